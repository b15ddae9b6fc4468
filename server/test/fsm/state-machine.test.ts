import assert from 'node:assert/strict';
import { addSnapshotRecord, snapshotRecords } from '../../src/codec.js';
import { recordBytes } from '../../src/storage/index.js';
import { SnapshotRestorer, StateMachine } from '../../src/fsm/state-machine.js';
import { DATA_COPIED_MAX_BYTES } from '../../src/tree/tree.js';
import { bytes, closeSession, create, createSession, del, setData, txn } from './helpers.js';

describe('state machine', () => {
  let fsm: StateMachine;
  let index: number;
  const apply = (t: Parameters<StateMachine['apply']>[2]) => fsm.apply(++index, 1, t);

  beforeEach(() => {
    fsm = new StateMachine();
    index = 0;
  });

  it('starts with the root and the reserved /conclave node', () => {
    assert.deepEqual(fsm.tree.children('/'), ['conclave']);
    assert.equal(fsm.tree.size, 2);
  });

  it('creates a node with ZooKeeper stat fields and fires created + children changed', () => {
    const out = apply(create('/a', 'hello', 'PERSISTENT', { timeMs: 5_000 }));
    assert.equal(out.error, undefined);
    assert.deepEqual(out.result, {
      op: 'create',
      path: '/a',
      stat: {
        czxid: 1, mzxid: 1, pzxid: 1, ctime: 5_000, mtime: 5_000, version: 0, cversion: 0, aversion: 0,
        ephemeralOwner: 0, dataLength: 5, numChildren: 0,
      },
    });
    assert.deepEqual(out.changes, [
      { type: 'NODE_CREATED', path: '/a', zxid: 1 },
      { type: 'NODE_CHILDREN_CHANGED', path: '/', zxid: 1 },
    ]);
    const root = fsm.tree.get('/')!;
    assert.equal(root.cversion, 2); // /conclave and /a
    assert.equal(root.pzxid, 1);
  });

  it('keeps a copy of small data, so that the bytes given may be reused, and large data as given', () => {
    const entry = Buffer.from('aaaa-bbbb');
    const small = txn({ op: 'create', create: { path: '/small', data: entry.subarray(0, 4), kind: 'PERSISTENT', ttlMs: 0, leaseId: 0, withStat: false } });
    apply(small);
    apply(txn({ op: 'setData', setData: { path: '/small', data: entry.subarray(5), version: -1 } }));
    const large = Buffer.alloc(DATA_COPIED_MAX_BYTES + 1, 'L');
    apply(txn({ op: 'create', create: { path: '/large', data: large, kind: 'PERSISTENT', ttlMs: 0, leaseId: 0, withStat: false } }));
    entry.fill('x');
    assert.deepEqual(Buffer.from(fsm.tree.get('/small')!.data), bytes('bbbb'));
    assert.equal(fsm.tree.get('/small')!.dataLength, 4);
    assert.equal(fsm.tree.get('/large')!.data, large);
    // a failed multi puts the data back as it was
    const out = apply(txn({ op: 'multi', multi: { ops: [{ op: 'setData', setData: { path: '/small', data: bytes('cc'), version: -1 } }, { op: 'delete', delete: { path: '/missing', version: -1 } }] } }));
    assert.ok(out.error);
    assert.deepEqual(Buffer.from(fsm.tree.get('/small')!.data), bytes('bbbb'));
    assert.equal(fsm.tree.approximateDataSize, 4 + large.length);
  });

  it('refuses a create under a missing parent, or an existing node, changing nothing', () => {
    assert.equal(apply(create('/x/y')).error?.code, 'NO_NODE');
    apply(create('/a'));
    const again = apply(create('/a'));
    assert.equal(again.error?.code, 'NODE_EXISTS');
    assert.deepEqual(again.changes, []);
    assert.equal(fsm.tree.size, 3);
  });

  it('refuses a create under a parent deleted since, and links one to the parent a failed multi put back', () => {
    apply(create('/a'));
    apply(create('/a/b'));
    apply(del('/a/b'));
    apply(del('/a'));
    assert.equal(apply(create('/a/c')).error?.code, 'NO_NODE');
    assert.equal(fsm.tree.get('/a/c'), undefined);
    // The same in one multi, whose failure puts /a back: the next create links to it.
    apply(create('/a'));
    apply(create('/a/b'));
    const multi = apply(
      txn({
        op: 'multi',
        multi: {
          ops: [
            { op: 'delete', delete: { path: '/a/b', version: -1 } },
            { op: 'delete', delete: { path: '/a', version: -1 } },
            { op: 'create', create: { path: '/a/c', data: bytes(''), kind: 'PERSISTENT' as never, ttlMs: 0, leaseId: 0, withStat: false } },
          ],
        },
      }),
    );
    assert.equal(multi.error?.code, 'NO_NODE');
    assert.deepEqual(fsm.tree.children('/a'), ['b']);
    assert.equal(apply(create('/a/d')).error, undefined);
    assert.deepEqual(fsm.tree.children('/a'), ['b', 'd']);
  });

  it('names sequential nodes from the parent cversion with %010d', () => {
    apply(create('/q'));
    const a = apply(create('/q/item-', '', 'PERSISTENT_SEQUENTIAL'));
    apply(create('/q/other'));
    const b = apply(create('/q/item-', '', 'PERSISTENT_SEQUENTIAL'));
    assert.equal((a.result as { path: string }).path, '/q/item-0000000000');
    assert.equal((b.result as { path: string }).path, '/q/item-0000000002');
    const c = apply(create('/q/', '', 'PERSISTENT_SEQUENTIAL'));
    assert.equal((c.result as { path: string }).path, '/q/0000000003');
  });

  it('checks versions on setData and delete (CAS) with BadVersion', () => {
    apply(create('/a', 'v0'));
    assert.equal(apply(setData('/a', 'v1', 0)).error, undefined);
    const stale = apply(setData('/a', 'v2', 0));
    assert.equal(stale.error?.code, 'BAD_VERSION');
    assert.deepEqual(Buffer.from(fsm.tree.get('/a')!.data), bytes('v1'));
    assert.equal(apply(del('/a', 0)).error?.code, 'BAD_VERSION');
    assert.equal(apply(del('/a', 1)).error, undefined);
    assert.equal(fsm.tree.get('/a'), undefined);
  });

  it('refuses to delete a node with children, and children under ephemerals', () => {
    apply(create('/a'));
    apply(create('/a/b'));
    assert.equal(apply(del('/a')).error?.code, 'NOT_EMPTY');
    const s = apply(createSession()).result as { session: { id: number } };
    apply(create('/e', '', 'EPHEMERAL', { sessionId: s.session.id }));
    assert.equal(apply(create('/e/child')).error?.code, 'NO_CHILDREN_FOR_EPHEMERALS');
  });

  it('applies a multi atomically, reporting the failing op and rolling back the others', () => {
    apply(create('/a', 'x'));
    const before = fsm.tree.get('/')!.stat();
    const out = apply(
      txn({
        op: 'multi',
        multi: {
          ops: [
            { op: 'create', create: { path: '/b', data: bytes(''), kind: 'PERSISTENT' as never, ttlMs: 0, leaseId: 0, withStat: false } },
            { op: 'setData', setData: { path: '/a', data: bytes('y'), version: -1 } },
            { op: 'check', check: { path: '/a', version: 7 } },
            { op: 'delete', delete: { path: '/a', version: -1 } },
          ],
        },
      }),
    );
    assert.equal(out.error?.code, 'BAD_VERSION');
    assert.equal(out.error?.opIndex, 2);
    assert.deepEqual(out.multiResults!.map((r) => ('error' in r ? r.error.code : 'ok')), ['OK', 'OK', 'BAD_VERSION', 'RUNTIME_INCONSISTENCY']);
    assert.deepEqual(out.changes, []);
    assert.equal(fsm.tree.get('/b'), undefined);
    assert.deepEqual(Buffer.from(fsm.tree.get('/a')!.data), bytes('x'));
    assert.deepEqual(fsm.tree.get('/')!.stat(), before);
  });

  it('gives every event of a successful multi the same zxid', () => {
    const out = apply(
      txn({
        op: 'multi',
        multi: {
          ops: [
            { op: 'create', create: { path: '/m', data: bytes(''), kind: 'PERSISTENT' as never, ttlMs: 0, leaseId: 0, withStat: true } },
            { op: 'create', create: { path: '/m/1', data: bytes(''), kind: 'PERSISTENT' as never, ttlMs: 0, leaseId: 0, withStat: false } },
          ],
        },
      }),
    );
    assert.equal(out.error, undefined);
    assert.ok(out.changes.length === 4 && out.changes.every((c) => c.zxid === 1));
  });

  it('deletes the ephemerals of a closed session, firing their events', () => {
    const s = (apply(createSession()).result as { session: { id: number } }).session.id;
    apply(create('/p'));
    apply(create('/p/e1', '', 'EPHEMERAL', { sessionId: s }));
    apply(create('/p/e2', '', 'EPHEMERAL_SEQUENTIAL', { sessionId: s }));
    assert.equal(fsm.tree.ephemeralsOf(s).size, 2);
    assert.equal(fsm.tree.get('/p/e1')!.ephemeralOwner, s);
    const out = apply(closeSession(s));
    assert.deepEqual(out.closedSessions, [s]);
    assert.deepEqual(fsm.tree.children('/p'), []);
    assert.equal(out.changes.filter((c) => c.type === 'NODE_DELETED').length, 2);
    assert.equal(apply(create('/p/late', '', 'EPHEMERAL', { sessionId: s })).error?.code, 'SESSION_EXPIRED');
  });

  it('refuses ephemerals without an owner, and requests of a session moved elsewhere', () => {
    assert.equal(apply(create('/e', '', 'EPHEMERAL')).error?.code, 'INVALID_ARGUMENT');
    const s = (apply(createSession(10_000, { origin: 1 })).result as { session: { id: number } }).session.id;
    const moved = apply(txn({ op: 'moveSession', moveSession: { sessionId: s, secret: bytes('s3cret') }, origin: 2, sessionId: s }));
    assert.deepEqual(moved.movedSession, { id: s, from: 1, to: 2 });
    assert.equal(apply(create('/x', '', 'PERSISTENT', { sessionId: s, origin: 1 })).error?.code, 'SESSION_MOVED');
    assert.equal(apply(create('/x', '', 'PERSISTENT', { sessionId: s, origin: 2 })).error, undefined);
    const wrong = apply(txn({ op: 'moveSession', moveSession: { sessionId: s, secret: bytes('nope') }, origin: 3, sessionId: s }));
    assert.equal(wrong.error?.code, 'UNAUTHENTICATED');
  });

  it('reaps containers that had children and TTL nodes past their TTL, only if unchanged', () => {
    apply(create('/c', '', 'CONTAINER'));
    apply(create('/t', '', 'PERSISTENT_WITH_TTL', { ttlMs: 1_000, timeMs: 10_000 }));
    assert.deepEqual(fsm.reapable(10_500, 10), []); // never had a child; TTL not reached
    apply(create('/c/x'));
    apply(del('/c/x'));
    const due = fsm.reapable(11_500, 10);
    assert.deepEqual(due.map((d) => d.path).sort(), ['/c', '/t']);
    const t = due.find((d) => d.path === '/t')!;
    apply(setData('/t', 'touched', -1, { timeMs: 11_600 }));
    const stale = apply(txn({ op: 'reap', reap: t }));
    assert.deepEqual(stale.result, { op: 'reap', deleted: false });
    const c = due.find((d) => d.path === '/c')!;
    assert.deepEqual(apply(txn({ op: 'reap', reap: c })).result, { op: 'reap', deleted: true });
    assert.equal(fsm.tree.get('/c'), undefined);
  });

  it('never lets time run backwards', () => {
    apply(create('/a', '', 'PERSISTENT', { timeMs: 9_000 }));
    apply(create('/b', '', 'PERSISTENT', { timeMs: 8_000 }));
    assert.equal(fsm.tree.get('/b')!.ctime, 9_000);
  });

  it('round-trips through snapshot records (the server\'s codec)', () => {
    const s = (apply(createSession()).result as { session: { id: number } }).session.id;
    apply(create('/a', 'data'));
    apply(create('/a/b', 'x', 'CONTAINER'));
    apply(create('/a/e', '', 'EPHEMERAL', { sessionId: s }));
    apply(create('/t', '', 'PERSISTENT_WITH_TTL', { ttlMs: 500 }));
    apply(setData('/a', 'more'));
    fsm.bootstrap('cid', [{ id: 1, peerAddress: 'p', clientAddress: 'c', voter: true }]);
    const restorer = new SnapshotRestorer();
    for (const record of snapshotRecords(fsm, { index: fsm.appliedIndex, term: 1, conf: { voters: [1], learners: [] } })) addSnapshotRecord(restorer, recordBytes(record));
    const copy = restorer.finish();
    const dump = (m: StateMachine) =>
      [...m.tree.walk()].map(([p, n]) => [p, n.stat(), Buffer.from(n.data).toString(), n.kind, n.ttl]).sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
    assert.deepEqual(dump(copy), dump(fsm));
    assert.deepEqual([...copy.sessions.values()], [...fsm.sessions.values()]);
    assert.deepEqual([...copy.tree.ephemeralsOf(s)], ['/a/e']);
    assert.deepEqual([...copy.tree.containers], ['/a/b']);
    assert.deepEqual([...copy.tree.ttlNodes], ['/t']);
    assert.equal(copy.appliedIndex, fsm.appliedIndex);
    assert.equal(copy.cluster.clusterId, 'cid');
  });
});
