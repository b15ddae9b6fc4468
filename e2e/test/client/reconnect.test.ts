/**
 * The client through member failures, against a real 3-member cluster: when the member under a
 * session is killed (or stops answering), the client moves to another member with the same
 * session, its ephemerals stay, its watches deliver every change exactly once, and its pipelined
 * requests are applied in the order sent.
 */
import assert from 'node:assert/strict';
import { Conclave, ConnectionLossError, type SessionState, type WatchEvent } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { waitFor } from '../../harness/checks.js';

describe('client: reconnects and session moves (real 3-member cluster)', function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let n = 0;
  const unique = () => `/r${++n}`;

  /** A client whose session is on member `id` (connections start at a random endpoint). */
  async function connectOn(id: number, endpoints = cluster.endpoints()): Promise<Conclave> {
    for (;;) {
      const client = await Conclave.connect({ endpoints, sessionTimeoutMs: 5_000 });
      if (client.memberId === id) return client;
      await client.close();
    }
  }

  before(async () => {
    // tick 300 ms: sessions of up to 6 s, so a paused member is left within seconds.
    cluster = await TestCluster.start({ members: 3, settings: { tickMs: 300 } });
  });
  afterEach(async () => {
    for (const id of [1, 2, 3]) {
      cluster.resume(id);
      if (!cluster.running(id)) await cluster.restart(id);
    }
  });
  after(async () => {
    await cluster?.stop();
  });

  it('the leader killed under a pipelined stream: same session, ephemerals kept, requests applied in the order sent', async () => {
    const leader = await cluster.leader();
    const client = await connectOn(leader);
    const session = client.sessionId;
    const states: SessionState[] = [];
    client.onState((s) => states.push(s));
    const p = unique();
    await client.create(p);
    await client.create(`${p}-ephemeral`, '', { kind: 'EPHEMERAL' });
    // 300 creates in flight at once, the member killed when 100 are answered; 100 more sent right
    // after the kill, and 100 once the session has moved.
    let answered = 0;
    const create = (i: number) =>
      client.create(`${p}/item-`, String(i), { kind: 'PERSISTENT_SEQUENTIAL' }).then(
        (path) => {
          answered++;
          return { i, path };
        },
        (error: Error) => ({ i, error }),
      );
    const results = Array.from({ length: 300 }, (_, i) => create(i));
    await waitFor(() => answered >= 100, 10_000, '100 answers');
    await cluster.kill(leader);
    for (let i = 300; i < 400; i++) results.push(create(i));
    await waitFor(() => client.state === 'reconnected', 10_000, 'moved');
    const after = Array.from({ length: 100 }, (_, i) => create(400 + i));
    const settled = await Promise.all([...results, ...after]);
    assert.equal(client.sessionId, session, 'same session');
    assert.notEqual(client.memberId, leader);
    assert.equal(states[0], 'disconnected');
    assert.equal(states.at(-1), 'reconnected');
    assert.ok(!states.includes('expired'));
    assert.ok(await client.exists(`${p}-ephemeral`), 'the ephemeral node survived the move');
    const failed = settled.filter((r): r is { i: number; error: Error } => 'error' in r);
    for (const f of failed) assert.ok(f.error instanceof ConnectionLossError && f.i < 400, `${f.i}: ${f.error}`);
    // FIFO: the items' sequence order is the order sent; each acknowledged one is there once.
    const names = (await client.getChildren(p)).sort();
    const values = (await client.multiRead(names.map((name) => ({ op: 'getData' as const, path: `${p}/${name}` })))).map((r) => Number((r as { data: Buffer }).data));
    for (let k = 1; k < values.length; k++) assert.ok(values[k]! > values[k - 1]!, `applied out of order: ${values[k - 1]} then ${values[k]}`);
    const acknowledged = settled.filter((r): r is { i: number; path: string } => 'path' in r);
    assert.deepEqual(acknowledged.map((a) => a.path.slice(p.length + 1)).filter((name) => !names.includes(name)), [], 'acknowledged but missing');
    assert.ok(values.length >= acknowledged.length && values.length <= 500);
    assert.ok(acknowledged.length >= 200, `${acknowledged.length} acknowledged`);
    await client.close();
  });

  it('a follower killed under a watcher: every change delivered exactly once, one-shot watches restored', async () => {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const watcher = await connectOn(follower);
    const writer = await Conclave.connect({ endpoints: cluster.endpoints([1, 2, 3].filter((id) => id !== follower)) });
    const p = unique();
    await writer.create(p);
    // The watcher's member may not have applied that create yet: catch up first, or its event comes too.
    await watcher.sync(p);
    const events: WatchEvent[] = [];
    await watcher.addWatch(p, (e) => events.push(e), { recursive: true });
    const late: WatchEvent[] = [];
    assert.equal(await watcher.exists(`${p}/late`, { watch: (e) => late.push(e) }), null);
    const expected: string[] = [];
    for (let i = 0; i < 150; i++) {
      if (i === 50) await cluster.kill(follower);
      await writer.create(`${p}/n${i}`, 'a');
      await writer.set(`${p}/n${i}`, 'b');
      expected.push(`NODE_CREATED ${p}/n${i}`, `NODE_DATA_CHANGED ${p}/n${i}`);
    }
    await writer.create(`${p}/late`);
    expected.push(`NODE_CREATED ${p}/late`);
    await waitFor(() => events.length >= expected.length && late.length === 1, 15_000, 'all events');
    await new Promise((r) => setTimeout(r, 200));
    assert.notEqual(watcher.memberId, follower);
    assert.deepEqual(events.map((e) => `${e.type} ${e.path}`), expected, 'each change once, in order');
    for (let k = 1; k < events.length; k++) assert.ok(events[k]!.zxid > events[k - 1]!.zxid);
    assert.deepEqual(late.map((e) => e.type), ['NODE_CREATED']);
    await Promise.all([watcher.close(), writer.close()]);
  });

  it('a member that stops answering (SIGSTOP) is left within the session timeout; the session carries on', async () => {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const client = await connectOn(follower);
    const session = client.sessionId;
    const p = unique();
    await client.create(p, '', { kind: 'EPHEMERAL' });
    const stream = client.watch(p);
    await stream.ready;
    const seen: WatchEvent[] = [];
    const collecting = (async () => {
      for await (const e of stream) seen.push(e);
    })();
    cluster.pause(follower);
    const started = Date.now();
    // In flight on the silent member: lost with the connection when the client leaves it.
    await assert.rejects(client.set(p, 'lost?'), ConnectionLossError);
    const left = Date.now() - started;
    assert.ok(left < client.sessionTimeoutMs, `left after ${left} ms, session timeout ${client.sessionTimeoutMs} ms`);
    await client.set(p, 'after the pause');
    assert.equal(client.sessionId, session);
    assert.notEqual(client.memberId, follower);
    assert.equal((await client.get(p)).data.toString(), 'after the pause');
    // Whether the lost set was applied or not, each applied change is seen exactly once.
    const version = (await client.exists(p))!.version;
    await waitFor(() => seen.length === version, 5_000, 'every change seen');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen.map((e) => e.type), Array(version).fill('NODE_DATA_CHANGED'));
    await stream.close();
    await collecting;
    await client.close();
  });

  it('close() while a reconnection is on its way: the session ends, and the reconnection does not revive it', async () => {
    const client = await Conclave.connect({ endpoints: cluster.endpoints(), sessionTimeoutMs: 3_000 });
    const session = client.sessionId;
    const p = unique();
    await client.create(p, '', { kind: 'EPHEMERAL' });
    const states: SessionState[] = [];
    client.onState((s) => states.push(s));
    // Every member silent: the client leaves its member and its next connect waits for an answer.
    for (const id of [1, 2, 3]) cluster.pause(id);
    await waitFor(() => states.includes('disconnected'), 10_000, 'the client notices');
    await new Promise((r) => setTimeout(r, 100));
    await client.close();
    for (const id of [1, 2, 3]) cluster.resume(id);
    // The connect sent while silent is answered now; the closed client must drop that stream.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(client.state, 'closed', `states: ${states.join(' -> ')}`);
    const other = await Conclave.connect({ endpoints: cluster.endpoints() });
    try {
      await waitFor(async () => (await other.exists(p, { linearizable: true })) === null, 15_000, `session ${session}'s ephemeral gone`);
    } finally {
      await other.close();
    }
  });

  it('an in-flight request with an AbortSignal or a deadline gives up without breaking the session', async () => {
    const client = await Conclave.connect({ endpoints: cluster.endpoints() });
    const controller = new AbortController();
    controller.abort(new Error('not needed any more'));
    await assert.rejects(client.get('/', { signal: controller.signal }), /not needed any more/);
    const member = client.memberId;
    cluster.pause(member);
    await assert.rejects(client.get('/', { timeoutMs: 200 }), (e: { code?: string }) => e.code === 'TIMEOUT');
    cluster.resume(member);
    assert.ok(await client.exists('/'));
    await client.close();
  });
});
