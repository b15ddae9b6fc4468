/**
 * Deterministic simulation of a Raft cluster: every member is a RawNode over MemoryStorage with a
 * simulated disk (synced vs cached writes), all driven by one seeded event loop. A run has a fault
 * phase (drops, delays, duplicates, reordering, partitions, crashes losing unsynced writes (their
 * peers see the connections close), spurious disconnects,
 * restarts, membership changes, leadership transfers, slow disks, client writes and reads) and a
 * healing phase that must end with a leader and every member of the configuration caught up.
 * Members run the Ready loop as the node layer does (apply committed entries and send a leader's
 * replication before the write; apply and replicate more while it runs). The Checker judges every
 * Ready once persisted, every message as it is sent (persist before send) and every entry as it is
 * applied (applying claims it committed). Same seed, same run.
 */

import {
  ConfChangeType,
  EntryType,
  InvalidConfChangeError,
  MemoryStorage,
  MessageType,
  ProposalDroppedError,
  RawNode,
  Role,
  decodeConfChange,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Ready,
} from '../../../src/raft/index.js';
import { Checker, MirrorLog, SafetyViolation, chain, contentHash } from './checker.js';
import { SimDisk, type SnapshotData } from './disk.js';
import { EventQueue } from './event-queue.js';
import { Rng } from './random.js';

/** Virtual milliseconds per tick. */
export const TICK_MS = 10;
const MAX_VOTERS = 5;
const MAX_MEMBERS = 7;
/** After healing: a leader within this many maximal election timeouts... */
const LEADER_DEADLINE_TIMEOUTS = 10;
/**
 * ...and every member of the configuration caught up within this long, plus a little per entry: with
 * one entry per message and one message in flight, a lagging member catches up one round trip
 * per entry.
 */
const CONVERGE_DEADLINE_MS = 8000;
const CONVERGE_MS_PER_ENTRY = 20;

export class LivenessFailure extends Error {
  override readonly name = 'LivenessFailure';
}

export interface SimOptions {
  seed: number;
  /** Length of the fault phase, in ticks. */
  faultTicks: number;
  /** Receives a line per event, to debug a replayed seed. */
  trace?: (line: string) => void;
}

export interface SimStats {
  events: number;
  leaders: number;
  committed: number;
  crashes: number;
  /** connection closes reported to members (after crashes, and spurious ones) */
  disconnects: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  reads: number;
  timeToLeaderMs: number;
  timeToConvergeMs: number;
}

interface Params {
  voters: number;
  electionTick: number;
  dropRate: number;
  dupRate: number;
  heartbeatTick: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxUncommittedEntriesSize: number;
  checkQuorum: boolean;
  preVote: boolean;
  snapshotEvery: number;
  keepAfterSnapshot: number;
  /**
   * Bytes of applied entries a member keeps in memory (the node's logMemoryBytes): older ones are
   * released from its MemoryStorage even when no snapshot covers them yet, and a member that needs
   * them gets a snapshot taken for it.
   */
  memoryBytes: number;
  padding: number;
  nemesisEveryMs: number;
  clientEveryMs: number;
  /** Leader churn: the leader is crashed or cut off often, mid-replication (Figure 8 histories). */
  churn: boolean;
}

type Event =
  | { kind: 'tick'; id: number; inc: number }
  | { kind: 'deliver'; msg: Message; snap: SnapshotData | undefined; fromInc: number }
  | { kind: 'disk'; id: number; inc: number }
  | { kind: 'snapReport'; id: number; inc: number; to: number; ok: boolean }
  /** member `id` sees the connection from `from` close (reportDisconnected) */
  | { kind: 'disconnect'; id: number; inc: number; from: number }
  | { kind: 'restart'; id: number }
  | { kind: 'strikeLeader'; id: number; inc: number; term: number }
  | { kind: 'nemesis' }
  | { kind: 'confChange' }
  | { kind: 'client' }
  | { kind: 'probe' };

class SimMember {
  readonly id: number;
  readonly rng: Rng;
  readonly disk: SimDisk;
  inc = 0;
  alive = false;
  slowDisk = false;
  storage = new MemoryStorage();
  node!: RawNode;
  /** The persisted log, as seen by the checker. */
  readonly log = new MirrorLog();
  applied = 0;
  digest = 0;
  conf: ConfState = { voters: [], learners: [] };
  snapshotIndex = 0;
  /** Snapshot files by index (the node layer keeps the latest few to stream them). */
  snapshots = new Map<number, SnapshotData>();
  /** On a leader: the snapshot index sent to each member that has not caught up past it yet. */
  snapshotsSent = new Map<number, number>();
  /** Snapshots received from a leader, by index, waiting for the Ready that installs them. */
  incoming = new Map<number, SnapshotData>();
  /** The Ready whose disk write is in flight, and the messages that wait for it. */
  pending: { rd: Ready; messages: Message[] } | undefined;
  role = Role.Follower;
  hard: HardState = { term: 0, vote: 0, commit: 0 };
  syncedHard: HardState = { term: 0, vote: 0, commit: 0 };

  constructor(id: number, rng: Rng, bootstrap: ConfState) {
    this.id = id;
    this.rng = rng;
    this.disk = new SimDisk({ meta: { index: 0, term: 0, conf: bootstrap }, digest: 0 });
  }
}

export class Simulation {
  private readonly rng: Rng;
  private readonly params: Params;
  private readonly queue = new EventQueue<Event>();
  private readonly members = new Map<number, SimMember>();
  private readonly checker = new Checker();
  private readonly blocked = new Set<number>();
  private readonly trace: ((line: string) => void) | undefined;
  private readonly faultEndMs: number;
  private now = 0;
  private faults = true;
  private nextMemberId: number;
  private nextRequestId = 1;
  private dropRate: number;
  private dupRate: number;
  private markerId = 0;
  private markerIndex = 0;
  private healedAt = 0;
  private readonly stats: SimStats;

  constructor(options: SimOptions) {
    this.rng = new Rng(options.seed);
    this.trace = options.trace;
    this.faultEndMs = options.faultTicks * TICK_MS;
    const r = this.rng;
    const preVote = r.chance(0.85);
    const churn = r.chance(0.5);
    this.params = {
      voters: r.chance(0.5) ? 5 : 3,
      // Churn wants many elections per run.
      electionTick: churn ? 4 : 10,
      dropRate: r.pick([0, 0.01, 0.05, 0.1, 0.2]),
      dupRate: r.pick([0, 0, 0.02, 0.1]),
      heartbeatTick: churn ? 1 : r.pick([1, 2, 3]),
      maxSizePerMsg: churn ? 1 : r.pick([1, 64, 256, 4096]),
      maxInflightMsgs: r.pick([1, 4, 256]),
      maxUncommittedEntriesSize: r.pick([Infinity, Infinity, 200, 2000]),
      checkQuorum: !preVote || r.chance(0.85),
      preVote,
      snapshotEvery: r.pick([5, 10, 30, 1000]),
      keepAfterSnapshot: r.pick([0, 2, 10]),
      // (from its own generator, so that the seeds' other choices stay what they were before it)
      memoryBytes: new Rng(options.seed ^ 0x6d656d).pick([Infinity, Infinity, 60, 300]),
      padding: r.pick([0, 8, 40]),
      nemesisEveryMs: churn ? 25 : r.pick([30, 80, 200]),
      clientEveryMs: r.pick([5, 15, 40]),
      churn,
    };
    this.dropRate = this.params.dropRate;
    this.dupRate = this.params.dupRate;
    this.nextMemberId = this.params.voters + 1;
    this.stats = {
      events: 0,
      leaders: 0,
      committed: 0,
      crashes: 0,
      disconnects: 0,
      partitions: 0,
      confChanges: 0,
      transfers: 0,
      snapshotsSent: 0,
      reads: 0,
      timeToLeaderMs: 0,
      timeToConvergeMs: 0,
    };
    const founders: ConfState = { voters: [], learners: [] };
    for (let id = 1; id <= this.params.voters; id++) founders.voters.push(id);
    for (let id = 1; id <= this.params.voters; id++) this.addMember(id, founders);
    this.queue.push(this.rng.range(0, this.params.nemesisEveryMs), { kind: 'nemesis' });
    this.queue.push(this.rng.range(0, this.params.clientEveryMs), { kind: 'client' });
  }

  describe(): string {
    return JSON.stringify(this.params, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v));
  }

  run(): SimStats {
    while (this.queue.size > 0 && this.queue.peekTime() <= this.faultEndMs) this.step();
    this.heal();
    const healedAt = this.healedAt;
    this.queue.push(this.now, { kind: 'probe' });
    while (this.markerIndex === 0 || !this.converged()) {
      if (this.queue.size === 0) throw new LivenessFailure('the event queue ran dry');
      this.step();
      const leaderDeadline = LEADER_DEADLINE_TIMEOUTS * 2 * this.params.electionTick * TICK_MS;
      if (this.markerId === 0 && this.now - healedAt > leaderDeadline) {
        throw new LivenessFailure(`no leader ${leaderDeadline} ms after the faults stopped`);
      }
      const deadline = CONVERGE_DEADLINE_MS + CONVERGE_MS_PER_ENTRY * this.checker.maxCommitted;
      if (this.now - healedAt > deadline) {
        throw new LivenessFailure(`members did not converge ${deadline} ms after the faults stopped: ${this.progressReport()}`);
      }
    }
    this.stats.timeToConvergeMs = this.now - healedAt;
    this.stats.leaders = this.checker.leaderChanges;
    this.stats.committed = this.checker.maxCommitted;
    return this.stats;
  }

  // ------------------------------------------------------------------ event loop

  private step(): void {
    const { time, event } = this.queue.pop();
    this.now = time;
    this.stats.events++;
    switch (event.kind) {
      case 'tick': {
        const m = this.members.get(event.id)!;
        if (!m.alive || m.inc !== event.inc) return;
        m.node.tick();
        this.queue.push(this.now + TICK_MS, event);
        this.drainReadies(m);
        return;
      }
      case 'deliver':
        this.deliver(event.msg, event.snap, event.fromInc);
        return;
      case 'disk': {
        const m = this.members.get(event.id)!;
        if (!m.alive || m.inc !== event.inc || m.pending === undefined) return;
        const { rd, messages } = m.pending;
        m.pending = undefined;
        this.complete(m, rd, messages);
        this.drainReadies(m);
        return;
      }
      case 'snapReport': {
        const m = this.members.get(event.id)!;
        if (!m.alive || m.inc !== event.inc) return;
        m.node.reportSnapshot(event.to, event.ok);
        this.drainReadies(m);
        return;
      }
      case 'disconnect': {
        const m = this.members.get(event.id)!;
        if (!m.alive || m.inc !== event.inc) return;
        m.node.reportDisconnected(event.from);
        this.drainReadies(m);
        return;
      }
      case 'restart': {
        const m = this.members.get(event.id)!;
        if (!m.alive) this.boot(m);
        return;
      }
      case 'strikeLeader': {
        const m = this.members.get(event.id)!;
        if (this.faults && m.alive && m.inc === event.inc && m.role === Role.Leader && m.hard.term === event.term) {
          this.strike(m);
        }
        return;
      }
      case 'nemesis':
        if (!this.faults) return;
        this.nemesis();
        this.queue.push(this.now + this.rng.range(1, 2 * this.params.nemesisEveryMs), event);
        return;
      case 'confChange':
        if (this.faults) this.changeMembership();
        return;
      case 'client':
        if (!this.faults) return;
        this.client();
        this.queue.push(this.now + this.rng.range(1, 2 * this.params.clientEveryMs), event);
        return;
      case 'probe':
        this.probe();
        this.queue.push(this.now + 50, event);
        return;
    }
  }

  private log(line: string): void {
    this.trace?.(`t=${this.now} ${line}`);
  }

  // ------------------------------------------------------------------ members

  private addMember(id: number, bootstrap: ConfState): SimMember {
    const m = new SimMember(id, this.rng.fork(), bootstrap);
    this.members.set(id, m);
    this.boot(m);
    return m;
  }

  /** Starts (or restarts) a member from what its disk has synced. */
  private boot(m: SimMember): void {
    const d = m.disk.synced;
    const meta = d.snapshot.meta;
    m.inc++;
    m.alive = true;
    m.storage = new MemoryStorage();
    m.storage.applySnapshot(meta);
    m.storage.append(d.entries);
    m.storage.setHardState(d.hardState);
    m.applied = meta.index;
    m.digest = d.snapshot.digest;
    m.conf = { voters: meta.conf.voters.slice(), learners: meta.conf.learners.slice() };
    m.snapshotIndex = meta.index;
    m.snapshots = new Map([[meta.index, d.snapshot]]);
    m.incoming = new Map();
    m.snapshotsSent = new Map();
    m.pending = undefined;
    m.role = Role.Follower;
    m.hard = { ...d.hardState };
    m.log.reset(meta.index, meta.term, d.snapshot.digest);
    m.log.append(d.entries, this.checker.seenEntry);
    const p = this.params;
    m.node = new RawNode({
      id: m.id,
      storage: m.storage,
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      applied: meta.index,
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      maxUncommittedEntriesSize: p.maxUncommittedEntriesSize,
      checkQuorum: p.checkQuorum,
      preVote: p.preVote,
      random: m.rng.source(),
    });
    this.log(`boot ${m.id} (incarnation ${m.inc}) term ${d.hardState.term} snapshot ${meta.index} last ${m.log.lastIndex}`);
    this.queue.push(this.now + 1 + m.rng.int(TICK_MS), { kind: 'tick', id: m.id, inc: m.inc });
  }

  private crash(m: SimMember): void {
    this.log(`crash ${m.id}`);
    m.alive = false;
    m.pending = undefined;
    m.disk.crash();
    this.stats.crashes++;
    // The kernel closes a dead process's connections: the others see them close.
    for (const peer of this.aliveMembers()) this.disconnect(peer, m.id);
    const downMs = this.params.churn ? this.rng.range(5, 80) : this.rng.range(20, 400);
    this.queue.push(this.now + downMs, { kind: 'restart', id: m.id });
  }

  /**
   * The Ready loop of one member, up to a write that must wait for the disk; as the node layer runs
   * it (node.ts): what is committed and already in the member's storage is applied at once
   * (applyStableCommitted); a Ready's committed entries are applied before its write, and a
   * leader's replication messages sent before it; while the write is in flight, the member applies
   * what becomes committed meanwhile and a leader sends its new replication messages at once.
   */
  private drainReadies(m: SimMember): void {
    if (!m.alive) return;
    this.applyStableCommitted(m);
    if (m.pending !== undefined) {
      this.whileWriting(m, m.pending.rd);
      return;
    }
    while (m.alive && m.pending === undefined && m.node.hasReady()) {
      const rd = m.node.ready();
      const messages = this.handOut(m, rd);
      if (!rd.mustSync) {
        this.complete(m, rd, messages);
        continue;
      }
      m.pending = { rd, messages };
      const latency = m.slowDisk ? this.rng.range(20, 60) : this.rng.range(0, 2);
      this.queue.push(this.now + latency, { kind: 'disk', id: m.id, inc: m.inc });
    }
  }

  /**
   * What the node does with a Ready before its write: a leader sends the replication messages, and
   * the committed entries are applied. A Ready that installs a snapshot does it all after its write.
   * Returns the messages that wait for the write.
   */
  private handOut(m: SimMember, rd: Ready): Message[] {
    if (rd.snapshot !== undefined) return rd.messages;
    const { early, afterWrite } = m.node.replicationFirst(rd.messages);
    for (const msg of early) this.send(m, msg);
    this.apply(m, rd.committedEntries, rd.entries);
    return afterWrite;
  }

  /** While `rd` is being written: RawNode.takeCommittedEntries and takeLeaderReplication. */
  private whileWriting(m: SimMember, rd: Ready): void {
    this.apply(m, m.node.takeCommittedEntries(), rd.entries);
    for (const msg of m.node.takeLeaderReplication()) this.send(m, msg);
  }

  /**
   * The node's applyStableCommitted: entries committed and already in storage as the log has them
   * are applied as soon as a message moves the commit index, up to a membership change; the Ready
   * hands them out again later, and apply() skips them then.
   */
  private applyStableCommitted(m: SimMember): void {
    const to = Math.min(m.node.stableCommitted(), m.storage.lastIndex());
    const from = m.applied + 1;
    if (to < from || from < m.storage.firstIndex()) return;
    const entries = m.storage.entries(from, to + 1, Number.MAX_SAFE_INTEGER);
    const upTo = entries.findIndex((e) => e.type === EntryType.ConfChange);
    this.apply(m, upTo < 0 ? entries : entries.slice(0, upTo), []);
  }

  /**
   * The checks on a Ready once it is persisted. Not earlier: what a member did in memory and lost
   * in a crash before syncing was never seen by anyone. (What it sent or applied before the sync is
   * judged as it happens: checkPersistedBeforeSend, apply.)
   */
  private observe(m: SimMember, rd: Ready): void {
    const wasLeaderOf = m.role === Role.Leader ? m.hard.term : -1;
    const commitBefore = m.hard.commit;
    if (rd.softState !== undefined) m.role = rd.softState.role;
    if (this.trace !== undefined && (rd.softState !== undefined || rd.hardState !== undefined)) {
      const hs = rd.hardState ?? m.hard;
      this.log(`${m.id} is ${m.role} (leader ${rd.softState?.leader ?? '-'}) term ${hs.term} vote ${hs.vote} commit ${hs.commit}`);
    }
    if (rd.hardState !== undefined) {
      this.checker.hardState(m.id, m.hard, rd.hardState, 'in memory');
      m.hard = rd.hardState;
    }
    if (wasLeaderOf === m.hard.term && m.role === Role.Leader) {
      // Leader Append-Only: a leader never overwrites or deletes entries in its log.
      if (rd.snapshot !== undefined) throw new SafetyViolation(`Leader Append-Only: leader ${m.id} installs a snapshot`);
      if (rd.entries.length > 0 && rd.entries[0]!.index !== m.log.lastIndex + 1) {
        throw new SafetyViolation(`Leader Append-Only: leader ${m.id} rewrites its log from ${rd.entries[0]!.index}`);
      }
    }
    if (rd.snapshot !== undefined) {
      const data = m.incoming.get(rd.snapshot.index);
      if (data === undefined) throw new Error(`member ${m.id} installs snapshot ${rd.snapshot.index} it never received`);
      m.log.reset(rd.snapshot.index, rd.snapshot.term, data.digest);
      this.checker.seenEntry(rd.snapshot.index, rd.snapshot.term, data.digest);
    }
    m.log.append(rd.entries, this.checker.seenEntry);
    if (rd.hardState !== undefined) this.checker.commit(m.id, m.hard.term, rd.hardState.commit, m.log);
    if (m.role === Role.Leader) {
      this.checker.leader(m.id, m.hard.term, m.log);
      // Churn strikes leaders at the worst moments: just elected (their no-op still in flight), or
      // just after their commit index moved (the next entries still in flight).
      if (this.params.churn) {
        const elected = wasLeaderOf !== m.hard.term;
        if ((elected && this.rng.chance(0.6)) || (!elected && m.hard.commit > commitBefore && this.rng.chance(0.3))) {
          this.queue.push(this.now + this.rng.range(0, 3), { kind: 'strikeLeader', id: m.id, inc: m.inc, term: m.hard.term });
        }
      }
    }
  }

  /** Persist, send, apply (a snapshot), advance: the rest of the node layer's half of the Ready contract. */
  private complete(m: SimMember, rd: Ready, messages: Message[]): void {
    const snap = rd.snapshot === undefined ? undefined : m.incoming.get(rd.snapshot.index)!;
    if (snap !== undefined) m.disk.write({ kind: 'snapshot', snapshot: snap, replacesLog: true });
    if (rd.entries.length > 0) m.disk.write({ kind: 'entries', entries: rd.entries });
    if (rd.hardState !== undefined) m.disk.write({ kind: 'hardState', hardState: rd.hardState });
    if (rd.mustSync) this.sync(m);
    this.observe(m, rd);
    if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot);
    m.storage.append(rd.entries);
    if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);

    for (const msg of messages) this.send(m, msg);

    if (snap !== undefined) {
      m.applied = snap.meta.index;
      m.digest = snap.digest;
      m.conf = { voters: snap.meta.conf.voters.slice(), learners: snap.meta.conf.learners.slice() };
      m.snapshotIndex = snap.meta.index;
      m.snapshots.set(snap.meta.index, snap);
      m.incoming.delete(snap.meta.index);
      this.checker.applied(m.id, m.node.term, m.applied, m.digest);
    }
    if (rd.snapshot !== undefined) this.apply(m, rd.committedEntries, rd.entries);
    for (const rs of rd.readStates) {
      this.checker.readAnswered(readId(rs.context), m.id, rs.index);
      this.stats.reads++;
    }
    m.node.advance(rd);
    this.maybeSnapshot(m);
    this.releaseMemory(m);
  }

  /**
   * Applies committed entries in log order, skipping those applied already (the node's applyEntry).
   * Each must be in the log as this member handed it out for persistence: in its persisted log, or
   * among `handedOut`, the entries of the Ready being written. Applying an entry claims it committed
   * (Checker.applied).
   */
  private apply(m: SimMember, entries: readonly Entry[], handedOut: readonly Entry[]): void {
    for (const e of entries) {
      const first = handedOut.length > 0 ? handedOut[0]!.index : Infinity;
      const term = e.index >= first ? handedOut[e.index - first]?.term : m.log.termAt(e.index);
      if (term !== e.term) throw new SafetyViolation(`member ${m.id} applies entry ${e.index} that was not handed out for persistence`);
      if (e.index <= m.applied) continue;
      if (e.index !== m.applied + 1) throw new SafetyViolation(`member ${m.id} applies ${e.index} after ${m.applied}`);
      m.applied = e.index;
      m.digest = chain(m.digest, e.term, contentHash(e));
      this.checker.applied(m.id, m.node.term, m.applied, m.digest);
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        m.conf = m.node.applyConfChange(cc);
        if (m.role === Role.Leader) this.stats.confChanges++;
        this.log(`${m.id} applies ${describeConfChange(cc)} at ${e.index}: voters ${m.conf.voters} learners ${m.conf.learners}`);
      } else if (e.data.length >= 4 && readId(e.data) === this.markerId && this.markerIndex === 0) {
        this.markerIndex = e.index;
      }
    }
  }

  /** The node's trimLog: applied entries beyond the memory budget leave the MemoryStorage. */
  private releaseMemory(m: SimMember): void {
    if (this.params.memoryBytes === Infinity) return;
    const status = m.node.status();
    let upTo = Math.min(m.applied, status.applied, m.storage.lastIndex());
    for (const [id, index] of m.snapshotsSent) {
      const match = status.progress?.get(id)?.match;
      if (match === undefined || match >= index) m.snapshotsSent.delete(id);
      else upTo = Math.min(upTo, index);
    }
    m.storage.release(this.params.memoryBytes, upTo);
  }

  private sync(m: SimMember): void {
    m.disk.sync();
    const hs = m.disk.synced.hardState;
    this.checker.hardState(m.id, m.syncedHard, hs, 'durable');
    m.syncedHard = hs;
  }

  /** The node layer snapshots its state machine now and then, and compacts the log. */
  private maybeSnapshot(m: SimMember, force = false): void {
    if (m.applied <= m.snapshotIndex) return;
    if (!force && m.applied - m.snapshotIndex < this.params.snapshotEvery) return;
    const meta = m.storage.createSnapshot(m.applied, m.conf);
    const data: SnapshotData = { meta, digest: m.digest };
    m.snapshots.set(meta.index, data);
    for (const index of m.snapshots.keys()) if (index < m.snapshotIndex) m.snapshots.delete(index);
    m.snapshotIndex = meta.index;
    const compactTo = Math.min(meta.index - this.rng.int(this.params.keepAfterSnapshot + 1), m.node.status().applied);
    if (compactTo >= m.storage.firstIndex()) m.storage.compact(compactTo);
    m.disk.write({ kind: 'snapshot', snapshot: data, replacesLog: false });
    m.disk.write({ kind: 'compact', index: compactTo });
    this.sync(m);
  }

  // ------------------------------------------------------------------ network

  private send(from: SimMember, sent: Message): void {
    this.checkPersistedBeforeSend(from, sent);
    let msg = sent;
    let snap: SnapshotData | undefined;
    if (msg.type === MessageType.Snap) {
      if (msg.snapshot!.index < from.storage.firstIndex() - 1) {
        // The log in memory no longer follows this snapshot: take a newer one and stream it to the
        // member as that snapshot (node.ts sendSnapshot); sometimes another snapshot was being taken,
        // and the next attempt sends the newer file.
        this.maybeSnapshot(from, true);
        if (this.rng.chance(0.2)) {
          this.reportSnapshot(from, msg.to, false);
          return;
        }
        msg = { ...msg, snapshot: from.snapshots.get(from.snapshotIndex)!.meta };
      }
      from.snapshotsSent.set(msg.to, msg.snapshot!.index);
      snap = from.snapshots.get(msg.snapshot!.index);
      if (snap === undefined) {
        // The file was replaced by a newer snapshot meanwhile: the stream fails.
        this.reportSnapshot(from, msg.to, false);
        return;
      }
      this.stats.snapshotsSent++;
    }
    if (this.rng.chance(this.dropRate)) {
      if (snap !== undefined) this.reportSnapshot(from, msg.to, false);
      return;
    }
    this.queue.push(this.now + this.latency(), { kind: 'deliver', msg, snap, fromInc: from.inc });
    if (this.rng.chance(this.dupRate)) {
      this.queue.push(this.now + this.latency(), { kind: 'deliver', msg, snap, fromInc: from.inc });
    }
  }

  /**
   * Persist before send: what a message asserts must already be on the sender's disk. A message
   * of an older term may go out after the sender moved on (a Ready carries every message since
   * the last one, and the latest HardState): a durable newer term is then enough, since the
   * sender will never act in the older term again.
   */
  private checkPersistedBeforeSend(from: SimMember, msg: Message): void {
    const durable = from.disk.synced.hardState;
    const futureTerm = msg.type === MessageType.PreVote || (msg.type === MessageType.PreVoteResp && !msg.reject);
    if (!futureTerm && msg.term !== 0 && durable.term < msg.term) {
      throw new SafetyViolation(`${from.id} sends ${MessageType[msg.type]} of term ${msg.term} before persisting the term`);
    }
    if (durable.term !== msg.term) return;
    if (msg.type === MessageType.VoteResp && !msg.reject && durable.vote !== msg.to) {
      throw new SafetyViolation(`${from.id} grants its vote of term ${msg.term} to ${msg.to} before persisting it`);
    }
    if (msg.type === MessageType.AppResp && !msg.reject) {
      const d = from.disk.synced;
      const last = d.entries.length > 0 ? d.entries[d.entries.length - 1]!.index : d.snapshot.meta.index;
      if (last < msg.index) throw new SafetyViolation(`${from.id} acknowledges entry ${msg.index} before persisting it`);
    }
  }

  /** Mostly a few ms; sometimes slow, which also reorders. */
  private latency(): number {
    return this.rng.chance(0.05) ? this.rng.range(10, 150) : this.rng.range(1, 5);
  }

  private isBlocked(from: number, to: number): boolean {
    return this.blocked.has(from * 1024 + to);
  }

  private deliver(msg: Message, snap: SnapshotData | undefined, fromInc: number): void {
    const to = this.members.get(msg.to);
    const from = this.members.get(msg.from)!;
    if (to === undefined || !to.alive || this.isBlocked(msg.from, msg.to)) {
      if (from.inc === fromInc && from.alive) {
        if (snap !== undefined) this.reportSnapshot(from, msg.to, false);
        // A broken connection tells the sender, sometimes.
        else if (this.rng.chance(0.2)) {
          from.node.reportUnreachable(msg.to);
          this.drainReadies(from);
        }
      }
      return;
    }
    if (this.trace !== undefined) this.log(`deliver ${describeMessage(msg)}`);
    if (snap !== undefined) to.incoming.set(snap.meta.index, snap);
    to.node.step(msg);
    this.drainReadies(to);
    if (snap !== undefined && from.inc === fromInc && from.alive) this.reportSnapshot(from, msg.to, true);
  }

  private reportSnapshot(from: SimMember, to: number, ok: boolean): void {
    this.queue.push(this.now + 1, { kind: 'snapReport', id: from.id, inc: from.inc, to, ok });
  }

  // ------------------------------------------------------------------ clients

  private aliveMembers(): SimMember[] {
    return [...this.members.values()].filter((m) => m.alive);
  }

  /** The member that believes it leads the highest term, if any. */
  private leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const m of this.members.values()) {
      if (m.alive && m.role === Role.Leader && (best === undefined || m.hard.term > best.hard.term)) best = m;
    }
    return best;
  }

  private client(): void {
    const alive = this.aliveMembers();
    if (alive.length === 0) return;
    // Most clients follow the current leader; some stay with a member that still believes it
    // leads (deposed, cut off), where a stale read would show.
    const leaders = alive.filter((m) => m.role === Role.Leader);
    const leader = this.leader();
    const r = this.rng.next();
    const m =
      leader !== undefined && r < 0.5 ? leader : leaders.length > 0 && r < 0.75 ? this.rng.pick(leaders) : this.rng.pick(alive);
    const id = this.nextRequestId++;
    try {
      if (this.rng.chance(0.85)) {
        m.node.propose(payload(id, this.rng.int(this.params.padding + 1)));
      } else {
        this.checker.readRequested(id, m.id);
        m.node.readIndex(payload(id, 0));
      }
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
    this.drainReadies(m);
  }

  // ------------------------------------------------------------------ faults

  private nemesis(): void {
    if (this.params.churn && this.rng.chance(0.6)) {
      this.churnLeader();
      return;
    }
    const r = this.rng.next();
    if (r < 0.22) this.partition();
    else if (r < 0.37) {
      this.log('heal network');
      this.blocked.clear();
    } else if (r < 0.47) this.crashSomeone();
    else if (r < 0.65) this.changeMembership();
    else if (r < 0.73) this.transferLeadership();
    else if (r < 0.8) {
      this.dropRate = this.rng.pick([0, 0.01, 0.05, 0.1, 0.3]);
      this.dupRate = this.rng.pick([0, 0.02, 0.1]);
      this.log(`network drop ${this.dropRate} dup ${this.dupRate}`);
    } else if (r < 0.86) {
      const m = this.rng.pick(this.aliveMembers());
      if (m !== undefined) m.slowDisk = !m.slowDisk;
    } else if (r < 0.92) {
      // A stream that breaks between two live members (a reset, a reconnect): harmless by design.
      const [m, from] = [this.rng.pick(this.aliveMembers()), this.rng.pick([...this.members.keys()])];
      if (m !== undefined && from !== undefined && from !== m.id) {
        this.log(`spurious disconnect: ${m.id} loses the stream from ${from}`);
        this.disconnect(m, from);
      }
    }
  }

  private disconnect(m: SimMember, from: number): void {
    this.stats.disconnects++;
    this.queue.push(this.now + this.latency(), { kind: 'disconnect', id: m.id, inc: m.inc, from });
  }

  private block(from: number, to: number): void {
    this.blocked.add(from * 1024 + to);
  }

  private partition(): void {
    this.blocked.clear();
    this.stats.partitions++;
    const ids = [...this.members.keys()];
    const shuffled = shuffle(ids, this.rng);
    const kind = this.rng.int(5);
    if (kind === 0) {
      // Two halves.
      const cut = this.rng.range(1, ids.length - 1);
      const a = shuffled.slice(0, cut);
      const b = shuffled.slice(cut);
      for (const x of a) for (const y of b) this.block(x, y), this.block(y, x);
      this.log(`partition halves ${a} | ${b}`);
    } else if (kind === 1) {
      // The leader alone (or anyone, without a leader).
      const victim = this.leader()?.id ?? shuffled[0]!;
      for (const y of ids) if (y !== victim) this.block(victim, y), this.block(y, victim);
      this.log(`partition isolates ${victim}`);
    } else if (kind === 2) {
      // A bridge: two sides that only talk through one member.
      const bridge = shuffled[0]!;
      const rest = shuffled.slice(1);
      const cut = this.rng.range(0, rest.length);
      const a = rest.slice(0, cut);
      const b = rest.slice(cut);
      for (const x of a) for (const y of b) this.block(x, y), this.block(y, x);
      this.log(`partition bridge ${bridge} between ${a} | ${b}`);
    } else if (kind === 3) {
      // One-way: a member that can send but not receive (or the reverse).
      const victim = this.leader()?.id ?? shuffled[0]!;
      const inbound = this.rng.chance(0.5);
      for (const y of ids) if (y !== victim) (inbound ? this.block(y, victim) : this.block(victim, y));
      this.log(`partition one-way: ${victim} ${inbound ? 'cannot receive' : 'cannot send'}`);
    } else {
      // Random asymmetric cuts.
      for (const x of ids) for (const y of ids) if (x !== y && this.rng.chance(0.3)) this.block(x, y);
      this.log(`partition random asymmetric`);
    }
  }

  /** Crash the leader, or cut it off for a while; heal what an earlier churn cut. */
  private churnLeader(): void {
    const leader = this.leader();
    if (leader === undefined || this.rng.chance(0.3)) this.blocked.clear();
    else this.strike(leader);
  }

  private strike(leader: SimMember): void {
    if (this.rng.chance(0.5)) {
      this.crash(leader);
      return;
    }
    this.blocked.clear();
    for (const id of this.members.keys()) if (id !== leader.id) this.block(leader.id, id), this.block(id, leader.id);
    this.log(`churn isolates leader ${leader.id}`);
  }

  private crashSomeone(): void {
    const alive = this.aliveMembers();
    if (alive.length === 0) return;
    const leader = this.leader();
    this.crash(leader !== undefined && this.rng.chance(0.4) ? leader : this.rng.pick(alive));
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const conf = leader.node.status().conf;
    const inConf = new Set([...conf.voters, ...conf.learners]);
    const options: ConfChange[] = [];
    if (inConf.size < MAX_MEMBERS) {
      const outside = [...this.members.keys()].filter((id) => !inConf.has(id));
      options.push({ type: ConfChangeType.AddLearner, memberId: outside.length > 0 && this.rng.chance(0.5) ? this.rng.pick(outside) : 0 });
    }
    if (conf.learners.length > 0 && conf.voters.length < MAX_VOTERS) {
      options.push({ type: ConfChangeType.Promote, memberId: this.rng.pick(conf.learners) });
    }
    if (conf.voters.length > 1) options.push({ type: ConfChangeType.Remove, memberId: this.rng.pick(conf.voters) });
    if (conf.learners.length > 0) options.push({ type: ConfChangeType.Remove, memberId: this.rng.pick(conf.learners) });
    if (options.length === 0) return;
    const cc = this.rng.pick(options);
    if (cc.type === ConfChangeType.AddLearner && cc.memberId === 0) {
      cc.memberId = this.nextMemberId++;
      this.addMember(cc.memberId, { voters: [], learners: [] });
    }
    this.log(`propose ${describeConfChange(cc)} on ${leader.id}`);
    this.propose(leader, () => leader.node.proposeConfChange(cc));
    // An impatient operator: the next change comes soon, maybe before this one is applied.
    if (this.rng.chance(0.4)) this.queue.push(this.now + this.rng.range(0, 10), { kind: 'confChange' });
  }

  private transferLeadership(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const voters = leader.node.status().conf.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = this.rng.pick(voters);
    this.log(`transfer leadership ${leader.id} -> ${to}`);
    this.stats.transfers++;
    leader.node.transferLeadership(to);
    this.drainReadies(leader);
  }

  private propose(m: SimMember, action: () => void): void {
    try {
      action();
    } catch (error) {
      if (!(error instanceof ProposalDroppedError) && !(error instanceof InvalidConfChangeError)) throw error;
    }
    this.drainReadies(m);
  }

  // ------------------------------------------------------------------ healing and liveness

  private heal(): void {
    this.log('faults stop: heal everything, restart everyone');
    this.faults = false;
    this.now = Math.max(this.now, this.faultEndMs);
    this.healedAt = this.now;
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    for (const m of this.members.values()) {
      m.slowDisk = false;
      if (!m.alive) this.boot(m);
    }
  }

  /** Once a leader is known, proposes the marker entry whose application marks convergence. */
  private probe(): void {
    if (this.markerIndex > 0) return;
    const leader = this.leader();
    if (leader === undefined) return;
    if (this.markerId === 0) this.stats.timeToLeaderMs = this.now - this.healedAt;
    this.markerId = this.nextRequestId++;
    this.propose(leader, () => leader.node.propose(payload(this.markerId, 0)));
  }

  private converged(): boolean {
    const leader = this.leader();
    if (leader === undefined) return false;
    const conf = leader.node.status().conf;
    for (const id of [...conf.voters, ...conf.learners]) {
      const m = this.members.get(id);
      if (m === undefined || !m.alive || m.applied < this.markerIndex || m.hard.term > leader.hard.term) return false;
    }
    return true;
  }

  private progressReport(): string {
    const parts: string[] = [];
    for (const m of this.members.values()) {
      const s = m.node.status();
      parts.push(`${m.id}:${s.role}/t${s.term}/c${s.commit}/a${m.applied}/last${s.lastIndex}/v[${s.conf.voters}]/l[${s.conf.learners}]`);
    }
    return `marker ${this.markerIndex}; ${parts.join(' ')}`;
  }
}

function payload(id: number, padding: number): Uint8Array {
  const data = new Uint8Array(4 + padding);
  data[0] = id & 0xff;
  data[1] = (id >>> 8) & 0xff;
  data[2] = (id >>> 16) & 0xff;
  data[3] = (id >>> 24) & 0xff;
  return data;
}

function readId(data: Uint8Array): number {
  return (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function describeConfChange(cc: ConfChange): string {
  return `${['add-learner', 'promote', 'remove'][cc.type]} ${cc.memberId}`;
}

function describeMessage(m: Message): string {
  let s = `${MessageType[m.type]} ${m.from}->${m.to} t${m.term}`;
  if (m.type === MessageType.App) s += ` prev ${m.index}/${m.logTerm} n${m.entries.length} commit ${m.commit}`;
  else if (m.type === MessageType.AppResp) s += ` idx ${m.index}${m.reject ? ` reject hint ${m.rejectHint}/${m.logTerm}` : ''}`;
  else if (m.type === MessageType.Vote || m.type === MessageType.PreVote) s += ` last ${m.index}/${m.logTerm}`;
  else if (m.reject) s += ' reject';
  if (m.type === MessageType.Snap) s += ` snap ${m.snapshot!.index}/${m.snapshot!.term}`;
  return s;
}
