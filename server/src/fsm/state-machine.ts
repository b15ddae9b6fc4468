/**
 * The replicated state machine: applies committed transactions (Txn, see raft.proto) to the data
 * tree and the session table, and returns the result for the member that took the request plus the
 * changes that fire watches. PURE and deterministic: given the same sequence of (index, txn), every
 * member reaches the same state; time comes from the txn (stamped by the leader), never a clock.
 *
 * Writes are validated here, at apply time, against the committed state (not at prepare time), so a
 * failed write is as linearizable as a successful one: its error is decided in log order.
 */
import type { Txn__Output as Txn } from '@conclave/proto/gen/conclave/raft/v1/Txn.js';
import type { Op__Output as Op } from '@conclave/proto/gen/conclave/v1/Op.js';
import type { Member__Output as Member } from '@conclave/proto/gen/conclave/v1/Member.js';
import {
  ConclaveError,
  type ErrorCode,
  InvalidArgumentError,
  RuntimeInconsistencyError,
  SessionExpiredError,
  SessionMovedError,
  UnauthenticatedError,
  asConclaveError,
} from '../errors.js';
import { DataTree, ZNode, isEphemeralKind, type Change, type CreateResult, type NodeKind, type Stat, type Undo } from '../tree/tree.js';
import { parentOf } from '../tree/path.js';

export type { Txn };

export interface SessionRecord {
  id: number;
  timeoutMs: number;
  secret: Uint8Array;
  /** granted through the Leases API rather than opened by a session stream */
  lease: boolean;
  /** the member the session is attached to; 0 for none (leases, or not yet known) */
  owner: number;
}

/** A change that fires watches, stamped with the zxid of the transaction that made it. */
export interface WatchChange extends Change {
  zxid: number;
}

export interface OpError {
  error: ConclaveError;
}

export type MultiOpResult =
  | { create: { path: string; stat: Stat | null } }
  | { delete: Record<string, never> }
  | { setData: { stat: Stat } }
  | { check: Record<string, never> }
  | { error: { code: ErrorCode | 'OK'; message: string; path: string; opIndex: number } };

/** The outcome of one transaction, routed to the request that caused it. */
export type TxnResult =
  | { op: 'create'; path: string; stat: Stat }
  | { op: 'delete' }
  | { op: 'setData'; stat: Stat }
  | { op: 'multi'; results: MultiOpResult[] }
  | { op: 'createSession'; session: SessionRecord }
  | { op: 'closeSession'; sessionId: number }
  | { op: 'moveSession'; sessionId: number; previousOwner: number }
  | { op: 'reap'; deleted: boolean }
  | { op: 'none' };

export interface ApplyOutcome {
  /** the result, or the error; `undefined` result with no error for no-op entries */
  result: TxnResult;
  error?: ConclaveError;
  /** changes in order; they share the transaction's zxid */
  changes: WatchChange[];
  /** sessions closed by this transaction (their ephemerals were deleted) */
  closedSessions: number[];
  /** a session moved to another member by this transaction */
  movedSession?: { id: number; from: number; to: number };
  /** for a failed multi: the per-op results (OK for those rolled back, the error, then RUNTIME_INCONSISTENCY) */
  multiResults?: MultiOpResult[];
}

export interface ConfChangeRecord {
  type: 'ADD_LEARNER' | 'PROMOTE' | 'REMOVE';
  memberId: number;
  member?: Member;
}

export interface SnapshotMetaRecord {
  index: number;
  term: number;
  conf: { voters: number[]; learners: number[] };
}

/** One record of a snapshot, shaped as conclave.raft.v1.SnapshotRecord. */
export interface SnapshotRecord {
  header?: {
    format: number;
    clusterId: string;
    meta: SnapshotMetaRecord | null;
    members: Member[];
    removedIds: number[];
    nodeCount: number;
    sessionCount: number;
    lastTimeMs: number;
  } | null;
  node?: { path: string; data: Uint8Array; stat: Stat | null; kind: string; ttlMs: number } | null;
  session?: { id: number; timeoutMs: number; secret: Uint8Array; lease: boolean; owner: number } | null;
}

export interface ClusterState {
  clusterId: string;
  members: Map<number, Member>;
  removedIds: Set<number>;
}

export class StateMachine {
  readonly tree = new DataTree();
  readonly sessions = new Map<number, SessionRecord>();
  readonly cluster: ClusterState = { clusterId: '', members: new Map(), removedIds: new Set() };
  appliedIndex = 0;
  appliedTerm = 0;
  /** latest txn time applied; ctime/mtime never run backwards even if leaders' clocks disagree */
  lastTime = 0;

  /** Applies the transaction of log entry (index, term). Never throws for a bad request. */
  apply(index: number, term: number, txn: Txn): ApplyOutcome {
    this.advance(index, term);
    if (txn.timeMs > this.lastTime) this.lastTime = txn.timeMs;
    const outcome: ApplyOutcome = { result: { op: 'none' }, changes: [], closedSessions: [] };
    try {
      this.checkSession(txn);
      outcome.result = this.execute(index, txn, outcome);
    } catch (error) {
      outcome.error = asConclaveError(error);
      outcome.changes.length = 0;
    }
    return outcome;
  }

  /** Records an entry that carries no transaction (the leader's no-op, a conf change). */
  advance(index: number, term: number): void {
    if (index <= this.appliedIndex) throw new Error(`apply out of order: ${index} after ${this.appliedIndex}`);
    this.appliedIndex = index;
    this.appliedTerm = term;
  }

  private checkSession(txn: Txn): void {
    if (txn.sessionId === 0 || txn.op === 'createSession' || txn.op === 'reap') return;
    const session = this.sessions.get(txn.sessionId);
    if (session === undefined) throw new SessionExpiredError(`session ${txn.sessionId} has expired or was closed`);
    if (txn.op !== 'moveSession' && txn.origin !== 0 && session.owner !== 0 && session.owner !== txn.origin) {
      throw new SessionMovedError(`session ${txn.sessionId} moved to member ${session.owner}`);
    }
  }

  private execute(zxid: number, txn: Txn, outcome: ApplyOutcome): TxnResult {
    const time = this.lastTime;
    switch (txn.op) {
      case 'create': {
        const { path, node } = this.create(txn.create!, txn.sessionId, zxid, time, outcome.changes);
        return { op: 'create', path, stat: node.stat() };
      }
      case 'delete':
        this.delete(txn.delete!.path, txn.delete!.version, zxid, outcome.changes);
        return { op: 'delete' };
      case 'setData': {
        const { path, data, version } = txn.setData!;
        const stat = this.setData(path, data, version, zxid, time, outcome.changes);
        return { op: 'setData', stat };
      }
      case 'multi':
        return this.multi(txn.multi!.ops, txn.sessionId, zxid, time, outcome);
      case 'createSession': {
        const { timeoutMs, secret, lease } = txn.createSession!;
        const session: SessionRecord = { id: zxid, timeoutMs, secret, lease, owner: lease ? 0 : txn.origin };
        this.sessions.set(session.id, session);
        return { op: 'createSession', session };
      }
      case 'closeSession': {
        const id = txn.closeSession!.sessionId;
        if (!this.sessions.has(id)) throw new SessionExpiredError(`session ${id} has expired or was closed`);
        this.closeSession(id, zxid, outcome);
        return { op: 'closeSession', sessionId: id };
      }
      case 'moveSession': {
        const { sessionId, secret } = txn.moveSession!;
        const session = this.sessions.get(sessionId)!;
        if (!sameBytes(session.secret, secret)) throw new UnauthenticatedError(`wrong secret for session ${sessionId}`);
        const previousOwner = session.owner;
        session.owner = txn.origin;
        outcome.movedSession = { id: sessionId, from: previousOwner, to: txn.origin };
        return { op: 'moveSession', sessionId, previousOwner };
      }
      case 'reap':
        return { op: 'reap', deleted: this.reap(txn.reap!.path, txn.reap!.mzxid, txn.reap!.pzxid, zxid, outcome.changes) };
      default:
        throw new InvalidArgumentError('transaction without an operation');
    }
  }

  private create(
    request: NonNullable<Txn['create']>,
    sessionId: number,
    zxid: number,
    time: number,
    changes: WatchChange[],
  ): CreateResult {
    const kind = request.kind as NodeKind;
    let owner = 0;
    if (isEphemeralKind(kind)) {
      owner = request.leaseId !== 0 ? request.leaseId : sessionId;
      if (owner === 0) throw new InvalidArgumentError('an ephemeral node needs a session or a lease', { path: request.path });
      if (!this.sessions.has(owner)) throw new SessionExpiredError(`session or lease ${owner} has expired`, { path: request.path });
    }
    const created = this.tree.create(request.path, request.data, kind, request.ttlMs, owner, zxid, time);
    changes.push({ type: 'NODE_CREATED', path: created.path, zxid });
    changes.push({ type: 'NODE_CHILDREN_CHANGED', path: created.parentPath, zxid });
    return created;
  }

  private delete(path: string, version: number, zxid: number, changes: WatchChange[]): Undo {
    const undo = this.tree.delete(path, version, zxid);
    changes.push({ type: 'NODE_DELETED', path, zxid });
    changes.push({ type: 'NODE_CHILDREN_CHANGED', path: parentOf(path), zxid });
    return undo;
  }

  private setData(
    path: string,
    data: Uint8Array,
    version: number,
    zxid: number,
    time: number,
    changes: WatchChange[],
    undos?: Undo[],
  ): Stat {
    const { node, undo } = this.tree.setData(path, data, version, zxid, time);
    undos?.push(undo);
    changes.push({ type: 'NODE_DATA_CHANGED', path, zxid });
    return node.stat();
  }

  /** All or nothing: on the first failure every earlier op is undone, in reverse. */
  private multi(ops: Op[], sessionId: number, zxid: number, time: number, outcome: ApplyOutcome): TxnResult {
    const undos: Undo[] = [];
    const results: MultiOpResult[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      try {
        switch (op.op) {
          case 'create': {
            const created = this.create(op.create!, sessionId, zxid, time, outcome.changes);
            undos.push(created.undo);
            results.push({ create: { path: created.path, stat: op.create!.withStat ? created.node.stat() : null } });
            break;
          }
          case 'delete':
            undos.push(this.delete(op.delete!.path, op.delete!.version, zxid, outcome.changes));
            results.push({ delete: {} });
            break;
          case 'setData': {
            const { path, data, version } = op.setData!;
            results.push({ setData: { stat: this.setData(path, data, version, zxid, time, outcome.changes, undos) } });
            break;
          }
          case 'check':
            this.tree.check(op.check!.path, op.check!.version);
            results.push({ check: {} });
            break;
          default:
            throw new InvalidArgumentError(`multi op ${i} has no operation`);
        }
      } catch (error) {
        for (let u = undos.length - 1; u >= 0; u--) undos[u]!();
        const failure = asConclaveError(error).atOp(i);
        outcome.multiResults = ops.map((_, j) => {
          if (j < i) return { error: { code: 'OK', message: 'rolled back', path: '', opIndex: j } };
          if (j === i) return { error: { code: failure.code, message: failure.message, path: failure.path ?? '', opIndex: j } };
          const skipped = new RuntimeInconsistencyError('not applied: an earlier op of the multi failed');
          return { error: { code: skipped.code, message: skipped.message, path: '', opIndex: j } };
        });
        throw failure;
      }
    }
    return { op: 'multi', results };
  }

  private closeSession(id: number, zxid: number, outcome: ApplyOutcome): void {
    const paths = [...this.tree.ephemeralsOf(id)].sort();
    for (const path of paths) this.delete(path, -1, zxid, outcome.changes);
    this.sessions.delete(id);
    outcome.closedSessions.push(id);
  }

  private reap(path: string, mzxid: number, pzxid: number, zxid: number, changes: WatchChange[]): boolean {
    const node = this.tree.get(path);
    if (node === undefined || node.mzxid !== mzxid || node.pzxid !== pzxid || node.numChildren > 0) return false;
    this.delete(path, -1, zxid, changes);
    return true;
  }

  /** The founding state of a new cluster: identical on every founding member. */
  bootstrap(clusterId: string, members: Member[]): void {
    this.cluster.clusterId = clusterId;
    for (const member of members) this.cluster.members.set(member.id, { ...member, voter: true });
  }

  /** Applies a committed membership change (the Raft core applies it to its configuration too). */
  applyConfChange(index: number, term: number, change: ConfChangeRecord): void {
    this.advance(index, term);
    const existing = this.cluster.members.get(change.memberId);
    switch (change.type) {
      case 'ADD_LEARNER':
        // Re-adding a removed id is an explicit decision: the id is welcome again. A member still
        // holding data from before its removal refuses to start from it (it knows it was removed).
        this.cluster.removedIds.delete(change.memberId);
        this.cluster.members.set(change.memberId, {
          id: change.memberId,
          peerAddress: change.member?.peerAddress ?? '',
          clientAddress: change.member?.clientAddress ?? '',
          voter: false,
        });
        break;
      case 'PROMOTE':
        if (existing !== undefined) existing.voter = true;
        break;
      case 'REMOVE':
        this.cluster.members.delete(change.memberId);
        this.cluster.removedIds.add(change.memberId);
        break;
    }
  }

  /**
   * The whole state in snapshot order: the header record, nodes (parents first) as [path, node]
   * pairs for the caller to encode (codec.ts snapshotRecords writes them by hand), then session
   * records.
   */
  *snapshotParts(meta: SnapshotMetaRecord): Generator<SnapshotRecord | [string, ZNode]> {
    yield {
      header: {
        format: 1,
        clusterId: this.cluster.clusterId,
        meta,
        members: [...this.cluster.members.values()],
        removedIds: [...this.cluster.removedIds].sort((a, b) => a - b),
        nodeCount: this.tree.size,
        sessionCount: this.sessions.size,
        lastTimeMs: this.lastTime,
      },
    };
    yield* this.tree.walk();
    for (const s of this.sessions.values()) {
      yield { session: { id: s.id, timeoutMs: s.timeoutMs, secret: s.secret, lease: s.lease, owner: s.owner } };
    }
  }

  /**
   * Containers that had children and have none, and TTL nodes unmodified for their TTL and
   * childless, as of `now` (the leader's clock): what the leader proposes to reap.
   */
  reapable(now: number, limit: number): { path: string; mzxid: number; pzxid: number }[] {
    const out: { path: string; mzxid: number; pzxid: number }[] = [];
    const consider = (path: string, due: (n: ZNode) => boolean) => {
      const node = this.tree.get(path)!;
      if (node.numChildren === 0 && due(node)) out.push({ path, mzxid: node.mzxid, pzxid: node.pzxid });
    };
    for (const path of this.tree.containers) {
      if (out.length >= limit) return out;
      consider(path, (n) => n.cversion > 0);
    }
    for (const path of this.tree.ttlNodes) {
      if (out.length >= limit) return out;
      consider(path, (n) => now - n.mtime > n.ttl);
    }
    return out;
  }
}

/** Constant-time comparison of secrets. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Rebuilds a state machine from a stream of snapshot records, one at a time. */
export class SnapshotRestorer {
  private readonly fsm = new StateMachine();
  private header: SnapshotRecord['header'] | undefined;

  add(record: SnapshotRecord): void {
    const fsm = this.fsm;
    if (record.header) {
      const header = (this.header = record.header);
      const meta = header.meta!;
      fsm.appliedIndex = meta.index;
      fsm.appliedTerm = meta.term;
      fsm.lastTime = header.lastTimeMs;
      fsm.cluster.clusterId = header.clusterId;
      for (const m of header.members) fsm.cluster.members.set(m.id, { ...m });
      for (const id of header.removedIds) fsm.cluster.removedIds.add(id);
      fsm.tree.reserve(header.nodeCount);
    } else if (this.header == null) {
      throw new Error('snapshot does not start with its header');
    } else if (record.node) {
      const { path, data, stat, kind, ttlMs } = record.node;
      const node = new ZNode(data, kind as NodeKind, stat!.czxid, stat!.ctime, stat!.ephemeralOwner, ttlMs);
      node.mzxid = stat!.mzxid;
      node.pzxid = stat!.pzxid;
      node.mtime = stat!.mtime;
      node.version = stat!.version;
      node.cversion = stat!.cversion;
      this.addNode(path, node);
    } else if (record.session) {
      const s = record.session;
      fsm.sessions.set(s.id, { id: s.id, timeoutMs: s.timeoutMs, secret: s.secret, lease: s.lease, owner: s.owner });
    }
  }

  /** A node record, decoded straight into its node (codec.ts addSnapshotRecord decodes by hand). */
  addNode(path: string, node: ZNode): void {
    if (this.header == null) throw new Error('snapshot does not start with its header');
    this.fsm.tree.restoreNode(path, node);
  }

  finish(): StateMachine {
    const header = this.header;
    if (header == null) throw new Error('snapshot has no header');
    if (this.fsm.tree.size !== header.nodeCount || this.fsm.sessions.size !== header.sessionCount) {
      throw new Error(
        `snapshot is incomplete: ${this.fsm.tree.size}/${header.nodeCount} nodes, ${this.fsm.sessions.size}/${header.sessionCount} sessions`,
      );
    }
    return this.fsm;
  }
}
