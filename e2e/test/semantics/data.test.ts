/**
 * Semantics suite, part 1: the data model and operations of semantics.md, one test per guarantee,
 * against a real conclave-server process over gRPC.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';

const rejects = (promise: Promise<unknown>, code: string) => assert.rejects(promise, (e: { code?: string }) => e.code === code);

describe('semantics: data model and operations (real server)', function () {
  let cluster: TestCluster;
  let client: Conclave;
  let n = 0;
  const unique = () => `/t${++n}`;

  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { tickMs: 200, reapIntervalMs: 100 } });
    client = await Conclave.connect({ endpoints: cluster.endpoints() });
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('paths: absolute, no empty/./.. segments, no trailing /, no control characters, at most 4096 bytes', async () => {
    for (const bad of ['a', '/a/', '//a', '/a//b', '/a/.', '/a/../b', '/a\u0001', '/' + 'x'.repeat(4096)]) {
      await rejects(client.create(bad), 'INVALID_PATH');
    }
    const long = '/' + 'x'.repeat(4095);
    assert.equal(await client.create(long), long);
  });

  it('/conclave is reserved: readable, never writable', async () => {
    assert.ok(await client.exists('/conclave'));
    await rejects(client.create('/conclave/x'), 'PERMISSION_DENIED');
    await rejects(client.set('/conclave', 'x'), 'PERMISSION_DENIED');
    await rejects(client.delete('/conclave'), 'PERMISSION_DENIED');
  });

  it('data: at most 1 MiB per node; a larger write is refused with DataTooLarge and changes nothing', async () => {
    const p = unique();
    await client.create(p, 'small');
    const max = Buffer.alloc(1024 * 1024, 7);
    await client.set(p, max);
    await rejects(client.set(p, Buffer.alloc(1024 * 1024 + 1)), 'DATA_TOO_LARGE');
    await rejects(client.create(unique(), Buffer.alloc(1024 * 1024 + 1)), 'DATA_TOO_LARGE');
    const { data, stat } = await client.get(p);
    assert.equal(stat.version, 1);
    assert.ok(data.equals(max));
  });

  it('Stat: czxid, mzxid, pzxid, ctime, mtime, version, cversion, dataLength, numChildren as ZooKeeper defines them', async () => {
    const p = unique();
    const before = Date.now();
    const { stat: created } = await client.createWithStat(p, 'abc');
    assert.equal(created.czxid, created.mzxid);
    assert.equal(created.pzxid, created.czxid);
    assert.ok(created.ctime >= before - 1000 && created.ctime <= Date.now() + 1000);
    assert.equal(created.mtime, created.ctime);
    assert.deepEqual([created.version, created.cversion, created.aversion, created.ephemeralOwner, created.dataLength, created.numChildren], [0, 0, 0, 0, 3, 0]);
    const set = await client.set(p, 'abcdef');
    assert.ok(set.mzxid > created.mzxid);
    assert.equal(set.czxid, created.czxid);
    assert.equal(set.version, 1);
    assert.equal(set.dataLength, 6);
    assert.equal(set.pzxid, created.pzxid, 'a data change does not move pzxid');
    await client.create(`${p}/c1`);
    await client.create(`${p}/c2`);
    await client.delete(`${p}/c1`);
    const after = (await client.exists(p))!;
    assert.equal(after.cversion, 3, 'two creates and a delete of children');
    assert.equal(after.numChildren, 1);
    assert.ok(after.pzxid > set.mzxid);
    assert.equal(after.mzxid, set.mzxid, 'children changes do not move mzxid');
    assert.equal(after.version, 1);
  });

  it('zxids strictly increase with every write', async () => {
    const p = unique();
    const zxids: number[] = [];
    zxids.push((await client.createWithStat(p)).stat.czxid);
    for (let i = 0; i < 5; i++) zxids.push((await client.set(p, String(i))).mzxid);
    for (let i = 1; i < zxids.length; i++) assert.ok(zxids[i]! > zxids[i - 1]!);
  });

  it('ephemeral nodes are owned by the session and may not have children', async () => {
    const p = unique();
    await client.create(p, '', { kind: 'EPHEMERAL' });
    assert.equal((await client.exists(p))!.ephemeralOwner, client.sessionId);
    await rejects(client.create(`${p}/child`), 'NO_CHILDREN_FOR_EPHEMERALS');
    assert.deepEqual(await client.getEphemerals(p), [p]);
  });

  it('sequential nodes get a %010d suffix from the parent counter', async () => {
    const p = unique();
    await client.create(p);
    const a = await client.create(`${p}/job-`, '', { kind: 'PERSISTENT_SEQUENTIAL' });
    const b = await client.create(`${p}/job-`, '', { kind: 'EPHEMERAL_SEQUENTIAL' });
    await client.create(`${p}/other`);
    const c = await client.create(`${p}/job-`, '', { kind: 'PERSISTENT_SEQUENTIAL' });
    assert.deepEqual([a, b, c], [`${p}/job-0000000000`, `${p}/job-0000000001`, `${p}/job-0000000003`]);
  });

  it('a container is deleted by the server once it has had a child and has none left', async () => {
    const p = unique();
    await client.create(p, '', { kind: 'CONTAINER' });
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(await client.exists(p), 'a container that never had a child stays');
    await client.create(`${p}/x`);
    await client.delete(`${p}/x`);
    await waitFor(async () => (await client.exists(p)) === null, 5_000);
  });

  it('a TTL node is deleted once unmodified for its TTL and childless, not before', async () => {
    const p = unique();
    const q = unique();
    await client.create(p, '', { kind: 'PERSISTENT_WITH_TTL', ttlMs: 500 });
    await client.create(q, '', { kind: 'PERSISTENT_WITH_TTL', ttlMs: 500 });
    await client.create(`${q}/child`);
    const seq = await client.create(`${p}-s`, '', { kind: 'PERSISTENT_SEQUENTIAL_WITH_TTL', ttlMs: 500 });
    await new Promise((r) => setTimeout(r, 300));
    await client.set(p, 'touch');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(await client.exists(p), 'modified 300 ms ago: still there');
    await waitFor(async () => (await client.exists(p)) === null && (await client.exists(seq)) === null, 5_000);
    assert.ok(await client.exists(q), 'a TTL node with children stays');
    await rejects(client.create(unique(), '', { kind: 'PERSISTENT_WITH_TTL' }), 'INVALID_ARGUMENT');
    await rejects(client.create(unique(), '', { kind: 'PERSISTENT', ttlMs: 5 }), 'INVALID_ARGUMENT');
  });

  it('conditional setData and delete: version -1 means any; a stale version fails with BadVersion and changes nothing', async () => {
    const p = unique();
    await client.create(p, 'v0');
    await client.set(p, 'v1', { version: 0 });
    await rejects(client.set(p, 'v2', { version: 0 }), 'BAD_VERSION');
    await rejects(client.delete(p, { version: 0 }), 'BAD_VERSION');
    const { data, stat } = await client.get(p);
    assert.equal(data.toString(), 'v1');
    assert.equal(stat.version, 1);
    await client.set(p, 'v2', { version: -1 });
    await client.delete(p, { version: 2 });
    assert.equal(await client.exists(p), null);
  });

  it('create, delete and reads report NoNode, NodeExists and NotEmpty', async () => {
    const p = unique();
    await rejects(client.get(p), 'NO_NODE');
    await rejects(client.set(p, 'x'), 'NO_NODE');
    await rejects(client.delete(p), 'NO_NODE');
    await rejects(client.getChildren(p), 'NO_NODE');
    await rejects(client.create(`${p}/a`), 'NO_NODE');
    await client.create(p);
    await rejects(client.create(p), 'NODE_EXISTS');
    await client.create(`${p}/a`);
    await rejects(client.delete(p), 'NOT_EMPTY');
  });

  it('getChildren (sorted), getAllChildrenNumber and getEphemerals', async () => {
    const p = unique();
    await client.create(p);
    for (const c of ['b', 'a', 'c']) await client.create(`${p}/${c}`);
    await client.create(`${p}/a/x`);
    await client.create(`${p}/a/x/y`, '', { kind: 'EPHEMERAL' });
    assert.deepEqual(await client.getChildren(p), ['a', 'b', 'c']);
    assert.equal(await client.countDescendants(p), 5);
    assert.deepEqual(await client.getEphemerals(`${p}/a`), [`${p}/a/x/y`]);
  });

  it('multi is all-or-nothing and reports which op failed and why', async () => {
    const p = unique();
    await client.create(p, 'x');
    const error = await client
      .multi([
        { op: 'create', path: `${p}/new` },
        { op: 'setData', path: p, data: 'changed' },
        { op: 'check', path: p, version: 5 },
        { op: 'delete', path: `${p}/none` },
      ])
      .then(() => undefined, (e) => e);
    assert.equal(error.code, 'BAD_VERSION');
    assert.equal(error.opIndex, 2);
    assert.deepEqual(error.results.map((r: { error?: { code: string } }) => r.error?.code), ['OK', 'OK', 'BAD_VERSION', 'RUNTIME_INCONSISTENCY']);
    assert.equal(await client.exists(`${p}/new`), null);
    assert.equal((await client.get(p)).data.toString(), 'x');
    const results = await client.multi([
      { op: 'check', path: p, version: 0 },
      { op: 'create', path: `${p}/new`, data: 'n' },
      { op: 'setData', path: p, data: 'y' },
      { op: 'create', path: `${p}/seq-`, kind: 'PERSISTENT_SEQUENTIAL' },
    ]);
    assert.deepEqual(results.map((r) => r.op), ['check', 'create', 'setData', 'create']);
    assert.equal((results[3] as { path: string }).path, `${p}/seq-0000000001`);
    assert.equal((await client.get(p)).data.toString(), 'y');
  });

  it('multiRead answers each read on its own, against one state', async () => {
    const p = unique();
    await client.create(p, 'd');
    const results = await client.multiRead([
      { op: 'getData', path: p },
      { op: 'exists', path: `${p}/none` },
      { op: 'getChildren', path: p },
      { op: 'getData', path: `${p}/none` },
    ]);
    assert.equal((results[0] as { data: Buffer }).data.toString(), 'd');
    assert.deepEqual(results[1], { stat: null });
    assert.deepEqual(results[2], { children: [] });
    assert.equal((results[3] as unknown as { error: { code: string } }).error.code, 'NO_NODE');
  });

  it('sync and linearizable reads see every write acknowledged before them', async () => {
    const p = unique();
    const other = await Conclave.connect({ endpoints: cluster.endpoints() });
    try {
      await other.create(p, 'from-other');
      await client.sync(p);
      assert.equal((await client.get(p)).data.toString(), 'from-other');
      await other.set(p, 'again');
      assert.equal((await client.get(p, { linearizable: true })).data.toString(), 'again');
    } finally {
      await other.close();
    }
  });
});

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
