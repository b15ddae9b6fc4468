/**
 * Semantics suite, part 2: sessions, leases, watches and their ordering guarantees, and the
 * session stream's FIFO order with pipelining, against a real conclave-server process.
 */
import assert from 'node:assert/strict';
import { Conclave, type WatchEvent } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { waitFor } from './data.test.js';
import { rawSession, unaryStubs } from '../../harness/raw.js';

const rejects = (promise: Promise<unknown>, code: string) => assert.rejects(promise, (e: { code?: string }) => e.code === code);

describe('semantics: sessions, leases and watches (real server)', function () {
  let cluster: TestCluster;
  let client: Conclave;
  let n = 0;
  const unique = () => `/s${++n}`;
  const connect = (options: Parameters<typeof Conclave.connect>[0] = {}) => Conclave.connect({ endpoints: cluster.endpoints(), ...options });

  before(async () => {
    // tick 100 ms: session timeouts are clamped to [200 ms, 2 s]
    cluster = await TestCluster.start({ members: 1, settings: { tickMs: 100 } });
    client = await connect();
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  describe('sessions and leases', () => {
    it('clamps the requested timeout to [2, 20] ticks', async () => {
      const short = await connect({ sessionTimeoutMs: 10 });
      const long = await connect({ sessionTimeoutMs: 3_600_000 });
      assert.equal(short.sessionTimeoutMs, 200);
      assert.equal(long.sessionTimeoutMs, 2_000);
      await Promise.all([short.close(), long.close()]);
    });

    it('closing a session deletes its ephemeral nodes at once and fires their watches', async () => {
      const p = unique();
      const owner = await connect();
      await owner.create(p, '', { kind: 'EPHEMERAL' });
      const events: WatchEvent[] = [];
      await client.exists(p, { watch: (e) => events.push(e) });
      await owner.close();
      assert.equal(await client.exists(p, { linearizable: true }), null);
      await waitFor(async () => events.length === 1, 2_000);
      assert.equal(events[0]!.type, 'NODE_DELETED');
    });

    it('an expired session loses its ephemerals (watches fire) and its stream is told SESSION_EXPIRED', async () => {
      const p = unique();
      const owner = await rawSession(cluster.endpoints(), { timeoutMs: 300 });
      owner.send([{ id: 2, create: { path: p, kind: 'EPHEMERAL' } }]);
      assert.equal((await owner.response(2)).error, null);
      const deleted = new Promise<WatchEvent>((resolve) => void client.exists(p, { watch: resolve }));
      // The owner sends nothing more: no keepalive, so the leader expires the session.
      assert.equal(await owner.nextError(), 'SESSION_EXPIRED');
      assert.equal((await deleted).type, 'NODE_DELETED');
      assert.equal(await client.exists(p), null);
      owner.close();
    });

    it('a session resumes on a new stream with its id and secret; a wrong secret or an unknown id is refused', async () => {
      const owner = await connect({ sessionTimeoutMs: 2_000 });
      const p = unique();
      await owner.create(p, '', { kind: 'EPHEMERAL' });
      const id = owner.sessionId;
      owner.reconnect();
      await waitFor(async () => owner.state === 'reconnected', 5_000);
      assert.equal(owner.sessionId, id);
      assert.ok(await owner.exists(p), 'the ephemeral node survived the reconnect');
      const wrong = await rawSession(cluster.endpoints(), { sessionId: id, secret: Buffer.from('not the secret') });
      assert.equal(wrong.connect.error?.code, 'UNAUTHENTICATED');
      wrong.close();
      const unknown = await rawSession(cluster.endpoints(), { sessionId: 999_999_999 });
      assert.equal(unknown.connect.error?.code, 'SESSION_EXPIRED');
      unknown.close();
      await owner.close();
    });

    it('a member does not serve a session a state older than the last zxid it has seen', async () => {
      const ahead = await rawSession(cluster.endpoints(), { lastZxid: 10_000_000, timeoutMs: 2_000 });
      assert.equal(ahead.connect.error?.code, 'TIMEOUT');
      ahead.close();
    });

    it('leases: grant, own ephemerals, keep alive, time-to-live, list, revoke', async () => {
      const { leases, conclave } = unaryStubs(cluster.endpoints());
      const granted = await leases.grant({ ttlMs: 1_000 });
      assert.equal(granted.ttlMs, 1_000);
      const p = unique();
      await conclave.create({ path: p, kind: 'EPHEMERAL', leaseId: granted.id });
      const ttl = await leases.timeToLive({ id: granted.id, keys: true });
      assert.deepEqual(ttl.keys, [p]);
      assert.ok(ttl.remainingMs > 0 && ttl.remainingMs <= 1_000);
      assert.ok((await leases.list({})).leases.some((l: { id: number; session: boolean }) => l.id === granted.id && !l.session));
      const keepAlive = leases.keepAlive();
      for (let i = 0; i < 6; i++) {
        keepAlive.write({ id: granted.id });
        await new Promise((r) => setTimeout(r, 250));
      }
      keepAlive.end();
      assert.ok(await client.exists(p), 'kept alive past its TTL');
      await leases.revoke({ id: granted.id });
      assert.equal(await client.exists(p, { linearizable: true }), null);
      const expiring = await leases.grant({ ttlMs: 300 });
      const q = unique();
      await conclave.create({ path: q, kind: 'EPHEMERAL', leaseId: expiring.id });
      await waitFor(async () => (await client.exists(q)) === null, 3_000);
      await rejects(conclave.create({ path: unique(), kind: 'EPHEMERAL' }), 'INVALID_ARGUMENT');
    });
  });

  describe('watches', () => {
    it('one-shot data watches fire once: NodeDataChanged, then nothing more', async () => {
      const p = unique();
      await client.create(p, 'a');
      const events: WatchEvent[] = [];
      await client.get(p, { watch: (e) => events.push(e) });
      await client.set(p, 'b');
      await client.set(p, 'c');
      await client.sync();
      await waitFor(async () => events.length >= 1, 2_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(events.map((e) => e.type), ['NODE_DATA_CHANGED']);
    });

    it('exists watches see NodeCreated; data and child watches see NodeDeleted; child watches see NodeChildrenChanged', async () => {
      const p = unique();
      const seen: string[] = [];
      await client.exists(p, { watch: (e) => seen.push(`exists:${e.type}`) });
      await client.create(p);
      await client.getChildren(p, { watch: (e) => seen.push(`children:${e.type}`) });
      await client.create(`${p}/c`);
      await client.get(p, { watch: (e) => seen.push(`data:${e.type}`) });
      await client.getChildren(p, { watch: (e) => seen.push(`children2:${e.type}`) });
      await client.delete(`${p}/c`);
      await client.getChildren(p, { watch: (e) => seen.push(`children3:${e.type}`) });
      await client.delete(p);
      await client.sync();
      await waitFor(async () => seen.length === 5, 2_000);
      assert.deepEqual(seen, [
        'exists:NODE_CREATED',
        'children:NODE_CHILDREN_CHANGED',
        'children2:NODE_CHILDREN_CHANGED',
        'data:NODE_DELETED',
        'children3:NODE_DELETED',
      ]);
    });

    it('persistent watches stay; recursive ones cover the subtree without NodeChildrenChanged; both can be removed', async () => {
      const p = unique();
      await client.create(p);
      const persistent: string[] = [];
      const recursive: string[] = [];
      const removeP = await client.addWatch(p, (e) => persistent.push(`${e.type} ${e.path}`));
      const removeR = await client.addWatch(p, (e) => recursive.push(`${e.type} ${e.path}`), { recursive: true });
      await client.set(p, '1');
      await client.create(`${p}/a`);
      await client.create(`${p}/a/b`);
      await client.set(`${p}/a/b`, '2');
      await client.set(p, '3');
      await client.sync();
      await waitFor(async () => recursive.length === 5 && persistent.length === 3, 2_000);
      assert.deepEqual(persistent, [`NODE_DATA_CHANGED ${p}`, `NODE_CHILDREN_CHANGED ${p}`, `NODE_DATA_CHANGED ${p}`]);
      assert.deepEqual(recursive, [`NODE_DATA_CHANGED ${p}`, `NODE_CREATED ${p}/a`, `NODE_CREATED ${p}/a/b`, `NODE_DATA_CHANGED ${p}/a/b`, `NODE_DATA_CHANGED ${p}`]);
      await removeP();
      await removeR();
      await client.set(p, '4');
      await client.sync();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(persistent.length, 3);
    });

    it('ordered and event-before-data: a read that reflects a change comes after the change\'s event', async () => {
      const p = unique();
      await client.create(p, '0');
      const writer = await connect();
      const events: WatchEvent[] = [];
      await client.addWatch(p, (e) => events.push(e));
      let violations = 0;
      const writes = (async () => {
        for (let i = 1; i <= 200; i++) await writer.set(p, String(i));
      })();
      let last = 0;
      while (last < 200) {
        const { stat } = await client.get(p);
        // Every change up to stat.mzxid must already have been delivered.
        const delivered = events.filter((e) => e.zxid <= stat.mzxid).length;
        if (delivered !== stat.version) violations++;
        for (let i = 1; i < events.length; i++) if (events[i]!.zxid <= events[i - 1]!.zxid) violations++;
        last = stat.version;
      }
      await writes;
      await writer.close();
      assert.equal(violations, 0);
    });

    it('unique and reliable: a recursive watch receives every change exactly once, in zxid order', async () => {
      const p = unique();
      await client.create(p);
      const events: WatchEvent[] = [];
      const stream = client.watch(p, { recursive: true });
      const collected = (async () => {
        for await (const e of stream) {
          events.push(e);
          if (events.length === 300) break;
        }
      })();
      await new Promise((r) => setTimeout(r, 50));
      const writers = await Promise.all([connect(), connect(), connect()]);
      await Promise.all(writers.map(async (w, k) => {
        for (let i = 0; i < 50; i++) {
          await w.create(`${p}/w${k}-${i}`);
          await w.set(`${p}/w${k}-${i}`, 'x');
        }
      }));
      await collected;
      await Promise.all(writers.map((w) => w.close()));
      const zxids = events.map((e) => e.zxid);
      assert.equal(new Set(events.map((e) => `${e.type} ${e.path} ${e.zxid}`)).size, 300, 'no duplicates');
      for (let i = 1; i < zxids.length; i++) assert.ok(zxids[i]! > zxids[i - 1]!, 'in zxid order');
      assert.equal(events.filter((e) => e.type === 'NODE_CREATED').length, 150);
    });

    it('atomic: the events of one multi carry one zxid and arrive together', async () => {
      const p = unique();
      await client.create(p);
      const events: WatchEvent[] = [];
      await client.addWatch(p, (e) => events.push(e), { recursive: true });
      await client.multi([
        { op: 'create', path: `${p}/a` },
        { op: 'create', path: `${p}/b` },
        { op: 'setData', path: p, data: 'x' },
      ]);
      await client.sync();
      await waitFor(async () => events.length === 3, 2_000);
      assert.equal(new Set(events.map((e) => e.zxid)).size, 1);
    });

    it('resumable: a session resuming with its last zxid gets exactly the changes it missed, then live ones', async () => {
      const p = unique();
      await client.create(p, '0');
      const first = await rawSession(cluster.endpoints(), { timeoutMs: 2_000 });
      first.send([{ id: 2, addWatch: { path: p, mode: 'PERSISTENT_RECURSIVE_WATCH' } }, { id: 3, getData: { path: p, watch: true } }]);
      await first.response(3);
      await client.set(p, '1');
      const seen = async (raw: typeof first, count: number) => {
        for (;;) {
          const events = raw.responses.filter((r) => r.event);
          if (events.length >= count) return events.map((r) => `${r.event!.type} ${r.event!.path}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      assert.deepEqual(await seen(first, 1), [`NODE_DATA_CHANGED ${p}`]);
      const lastZxid = Math.max(...first.responses.map((r) => r.zxid));
      const { sessionId, secret } = first.connect.connect!;
      first.close();
      await client.set(p, '2');
      await client.create(`${p}/child`);
      const second = await rawSession(cluster.endpoints(), {
        sessionId,
        secret,
        lastZxid,
        watches: { relativeZxid: lastZxid, persistentRecursiveWatches: [p], dataWatches: [] },
      });
      assert.equal(second.connect.error, null);
      await client.set(p, '3');
      assert.deepEqual(await seen(second, 3), [`NODE_DATA_CHANGED ${p}`, `NODE_CREATED ${p}/child`, `NODE_DATA_CHANGED ${p}`]);
      second.close();
    });

    it('resumable through the client: a reconnect loses no change and repeats none', async () => {
      const p = unique();
      await client.create(p, '0');
      const watcher = await connect({ sessionTimeoutMs: 2_000 });
      const events: WatchEvent[] = [];
      await watcher.addWatch(p, (e) => events.push(e), { recursive: true });
      const states: string[] = [];
      watcher.onState((s) => states.push(s));
      for (let i = 1; i <= 30; i++) {
        await client.set(p, String(i));
        if (i % 10 === 0) watcher.reconnect();
      }
      await waitFor(async () => events.length >= 30, 5_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(events.length, 30);
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.zxid > events[i - 1]!.zxid);
      assert.ok(states.filter((s) => s === 'reconnected').length >= 1);
      await watcher.close();
    });
  });

  describe('the session stream', () => {
    it('applies pipelined requests in the order sent and answers them in that order; reads see earlier writes', async () => {
      const p = unique();
      await client.create(p, '0');
      const order: number[] = [];
      const ops: Promise<unknown>[] = [];
      for (let i = 1; i <= 500; i++) {
        const k = i;
        if (i % 2 === 1) ops.push(client.set(p, String(i)).then(() => order.push(k)));
        else ops.push(client.get(p).then(({ data }) => {
          order.push(k);
          assert.equal(data.toString(), String(k - 1), 'a read sees the write sent just before it');
        }));
      }
      await Promise.all(ops);
      assert.deepEqual(order, Array.from({ length: 500 }, (_, i) => i + 1));
      assert.equal((await client.get(p)).stat.version, 250);
    });

    it('a second stream resuming the same session takes it over; the first is told SESSION_MOVED', async () => {
      const first = await rawSession(cluster.endpoints(), {});
      const second = await rawSession(cluster.endpoints(), { sessionId: first.connect.connect!.sessionId, secret: first.connect.connect!.secret });
      assert.equal(second.connect.error, null);
      const closing = await first.nextError();
      assert.equal(closing, 'SESSION_MOVED');
      second.close();
      first.close();
    });
  });
});
