/**
 * Property test: random operation sequences applied to the state machine and to a deliberately
 * naive reference model (a flat map of paths, children found by scanning) must agree on every
 * result and on the whole state after every step, including across snapshot/restore round trips
 * through the real protobuf encoding.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addSnapshotRecord, snapshotRecords } from '../../src/codec.js';
import { recordBytes } from '../../src/storage/index.js';
import { SnapshotRestorer, StateMachine, type Txn } from '../../src/fsm/state-machine.js';
import { bytes, closeSession, create, createSession, del, setData, txn } from './helpers.js';
import { parentOf } from '../../src/tree/path.js';

interface ModelNode {
  data: string;
  version: number;
  cversion: number;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  owner: number;
  kind: string;
}

class Model {
  nodes = new Map<string, ModelNode>();
  sessions = new Set<number>();
  time = 0;

  constructor() {
    const blank = (): ModelNode => ({ data: '', version: 0, cversion: 0, czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, owner: 0, kind: 'PERSISTENT' });
    this.nodes.set('/', blank());
    this.nodes.set('/conclave', blank());
    this.nodes.get('/')!.cversion = 1;
  }

  parent(path: string): string {
    const i = path.lastIndexOf('/');
    return i === 0 ? '/' : path.slice(0, i);
  }
  childCount(path: string): number {
    let n = 0;
    for (const p of this.nodes.keys()) if (p !== '/' && this.parent(p) === path) n++;
    return n;
  }

  create(path: string, data: string, kind: string, owner: number, zxid: number): string {
    const sequential = kind.includes('SEQUENTIAL');
    const ephemeral = kind.startsWith('EPHEMERAL');
    if (ephemeral && owner === 0) throw 'INVALID_ARGUMENT';
    if (ephemeral && !this.sessions.has(owner)) throw 'SESSION_EXPIRED';
    const parentPath = sequential && path.endsWith('/') ? (path === '/' ? '/' : path.slice(0, -1)) : this.parent(path);
    const parent = this.nodes.get(parentPath);
    if (!parent) throw 'NO_NODE';
    if (parent.kind.startsWith('EPHEMERAL')) throw 'NO_CHILDREN_FOR_EPHEMERALS';
    const actual = sequential ? path + String(parent.cversion).padStart(10, '0') : path;
    if (this.nodes.has(actual)) throw 'NODE_EXISTS';
    this.nodes.set(actual, { data, version: 0, cversion: 0, czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: this.time, mtime: this.time, owner: ephemeral ? owner : 0, kind });
    parent.cversion++;
    parent.pzxid = zxid;
    return actual;
  }
  delete(path: string, version: number, zxid: number): void {
    const node = this.nodes.get(path);
    if (!node) throw 'NO_NODE';
    if (version !== -1 && node.version !== version) throw 'BAD_VERSION';
    if (this.childCount(path) > 0) throw 'NOT_EMPTY';
    this.nodes.delete(path);
    const parent = this.nodes.get(this.parent(path))!;
    parent.cversion++;
    parent.pzxid = zxid;
  }
  setData(path: string, data: string, version: number, zxid: number): void {
    const node = this.nodes.get(path);
    if (!node) throw 'NO_NODE';
    if (version !== -1 && node.version !== version) throw 'BAD_VERSION';
    Object.assign(node, { data, version: node.version + 1, mzxid: zxid, mtime: this.time });
  }
  check(path: string, version: number): void {
    const node = this.nodes.get(path);
    if (!node) throw 'NO_NODE';
    if (version !== -1 && node.version !== version) throw 'BAD_VERSION';
  }
  clone(): Map<string, ModelNode> {
    return new Map([...this.nodes].map(([p, n]) => [p, { ...n }]));
  }
}

type Step =
  | { t: 'create'; path: string; data: string; kind: string; session: number }
  | { t: 'delete'; path: string; version: number }
  | { t: 'set'; path: string; data: string; version: number }
  | { t: 'multi'; ops: ({ t: 'create'; path: string; kind: string } | { t: 'delete'; path: string; version: number } | { t: 'set'; path: string; version: number } | { t: 'check'; path: string; version: number })[] }
  | { t: 'openSession' }
  | { t: 'closeSession'; session: number }
  | { t: 'snapshot' };

const segment = fc.constantFrom('a', 'b', 'c');
const pathArb = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => '/' + s.join('/'));
const kindArb = fc.constantFrom('PERSISTENT', 'PERSISTENT_SEQUENTIAL', 'EPHEMERAL', 'EPHEMERAL_SEQUENTIAL', 'CONTAINER');
const versionArb = fc.integer({ min: -1, max: 2 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('create' as const), path: pathArb, data: fc.string({ maxLength: 4 }), kind: kindArb, session: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('delete' as const), path: pathArb, version: versionArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('set' as const), path: pathArb, data: fc.string({ maxLength: 4 }), version: versionArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('multi' as const),
      ops: fc.array(
        fc.oneof(
          fc.record({ t: fc.constant('create' as const), path: pathArb, kind: fc.constantFrom('PERSISTENT', 'PERSISTENT_SEQUENTIAL') }),
          fc.record({ t: fc.constant('delete' as const), path: pathArb, version: versionArb }),
          fc.record({ t: fc.constant('set' as const), path: pathArb, version: versionArb }),
          fc.record({ t: fc.constant('check' as const), path: pathArb, version: versionArb }),
        ),
        { maxLength: 4 },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'openSession' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('closeSession' as const), session: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'snapshot' as const }) },
);


function compareState(fsm: StateMachine, model: Model): void {
  const walked = new Set<string>();
  for (const [path] of fsm.tree.walk()) {
    assert.ok(path === '/' || walked.has(parentOf(path)), `walk() gives ${path} before its parent`);
    walked.add(path);
  }
  const actual = [...fsm.tree.walk()].map(([p, n]) => {
    const s = n.stat();
    return [p, Buffer.from(n.data).toString(), s.version, s.cversion, s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.ephemeralOwner, s.numChildren, n.kind];
  });
  const expected = [...model.nodes.keys()].sort().map((p) => {
    const n = model.nodes.get(p)!;
    return [p, n.data, n.version, n.cversion, n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.owner, model.childCount(p), n.kind];
  });
  actual.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
  assert.deepEqual(actual, expected);
  assert.deepEqual([...fsm.sessions.keys()].sort(), [...model.sessions].sort());
}

describe('state machine vs reference model (property)', () => {
  it('agrees on every result and state, across snapshot round trips', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 60 }), (steps) => {
        let fsm = new StateMachine();
        const model = new Model();
        const sessionIds: number[] = [];
        let index = 0;
        for (const step of steps) {
          const zxid = index + 1;
          const time = 1_000 + zxid;
          model.time = time;
          let t: Txn | undefined;
          let expect: () => unknown;
          const sessionOf = (n: number) => (n === 0 || sessionIds.length === 0 ? 0 : sessionIds[n % sessionIds.length]!);
          switch (step.t) {
            case 'create': {
              const s = sessionOf(step.session);
              t = create(step.path, step.data, step.kind, { sessionId: s, timeMs: time, origin: 0 });
              expect = () => {
                if (s !== 0 && !model.sessions.has(s)) throw 'SESSION_EXPIRED';
                model.create(step.path, step.data, step.kind, s, zxid);
              };
              break;
            }
            case 'delete':
              t = del(step.path, step.version, { timeMs: time });
              expect = () => model.delete(step.path, step.version, zxid);
              break;
            case 'set':
              t = setData(step.path, step.data, step.version, { timeMs: time });
              expect = () => model.setData(step.path, step.data, step.version, zxid);
              break;
            case 'multi': {
              t = txn({
                op: 'multi',
                timeMs: time,
                multi: {
                  ops: step.ops.map((o) =>
                    o.t === 'create' ? { op: 'create', create: { path: o.path, data: bytes(''), kind: o.kind as never, ttlMs: 0, leaseId: 0, withStat: false } }
                    : o.t === 'delete' ? { op: 'delete', delete: { path: o.path, version: o.version } }
                    : o.t === 'set' ? { op: 'setData', setData: { path: o.path, data: bytes('m'), version: o.version } }
                    : { op: 'check', check: { path: o.path, version: o.version } },
                  ),
                },
              });
              expect = () => {
                const saved = model.clone();
                try {
                  for (const o of step.ops) {
                    if (o.t === 'create') model.create(o.path, '', o.kind, 0, zxid);
                    else if (o.t === 'delete') model.delete(o.path, o.version, zxid);
                    else if (o.t === 'set') model.setData(o.path, 'm', o.version, zxid);
                    else model.check(o.path, o.version);
                  }
                } catch (code) {
                  model.nodes = saved;
                  throw code;
                }
              };
              break;
            }
            case 'openSession':
              t = createSession(10_000, { timeMs: time });
              expect = () => {
                model.sessions.add(zxid);
                sessionIds.push(zxid);
              };
              break;
            case 'closeSession': {
              const s = sessionOf(step.session);
              t = closeSession(s, { timeMs: time });
              expect = () => {
                if (!model.sessions.has(s)) throw 'SESSION_EXPIRED';
                for (const p of [...model.nodes.keys()].filter((p) => model.nodes.get(p)!.owner === s).sort()) model.delete(p, -1, zxid);
                model.sessions.delete(s);
              };
              break;
            }
            case 'snapshot': {
              // Through the server's own snapshot codec, as a restart or an installed snapshot would.
              const restorer = new SnapshotRestorer();
              for (const record of snapshotRecords(fsm, { index, term: 1, conf: { voters: [1], learners: [] } })) addSnapshotRecord(restorer, recordBytes(record));
              fsm = restorer.finish();
              compareState(fsm, model);
              continue;
            }
          }
          let expected: string = 'OK';
          try {
            expect();
          } catch (code) {
            expected = code as string;
          }
          index++;
          const outcome = fsm.apply(index, 1, t);
          assert.equal(outcome.error?.code ?? 'OK', expected, `step ${JSON.stringify(step)}: ${outcome.error?.message}`);
          compareState(fsm, model);
        }
      }),
      { numRuns: Number(process.env.FSM_PROPERTY_RUNS ?? 300) },
    );
  });
});
