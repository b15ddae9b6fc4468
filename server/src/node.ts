/**
 * One Conclave member: the Ready loop that wires the pure Raft core to storage, transport and the
 * state machine, and the request entry points the API layer calls.
 *
 * A write: submitWrite -> (leader) stamp time + propose | (follower) forward to the leader ->
 * Ready: append to the WAL and fsync (batched) -> send -> committed -> StateMachine.apply ->
 * watches fire and the waiting request gets its outcome, synchronously, in log order.
 */
import {
  ConclaveError,
  NotLeaderError,
  ResourceExhaustedError,
  UnavailableError,
  asConclaveError,
  type ErrorCode,
} from './errors.js';
import { addSnapshotRecord, decodeMember, decodeTxn, encodeMember, encodeTxn, snapshotRecords, stampTime } from './codec.js';
import { StateMachine, SnapshotRestorer, type ApplyOutcome, type Txn } from './fsm/state-machine.js';
import { PendingWrites, type WriteCallback } from './pipeline/pending.js';
import { ReadBarrier } from './pipeline/read-barrier.js';
import type { TxnBody } from './pipeline/prepare.js';
import {
  ConfChangeType,
  decodeConfChange,
  EntryType,
  MemoryStorage,
  MessageType,
  ProposalDroppedError,
  RawNode,
  Role,
  type Entry,
  type HardState,
  type Message,
  type Ready,
  type SnapshotMeta,
} from './raft/index.js';
import { SessionTracker } from './session/tracker.js';
import { SnapshotFeed, StorageFullError, StorageIoError, WalClosedError, type EncodableRecord, type LogStore, type RecoveredLog, type SnapshotFiles } from './storage/index.js';
import type { ForwardRejection, ForwardedTxn, PeerHandlers, Refusal, Transport } from './transport/transport.js';
import { EventHistory } from './watch/history.js';
import { WatchRegistry } from './watch/registry.js';
import { restoreWatches } from './watch/restore.js';
import type { Member__Output as Member } from '@conclave/proto/gen/conclave/v1/Member.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';

export interface NodeOptions {
  id: number;
  clusterId: string;
  /** founding members (the initial cluster); used to bootstrap a new cluster */
  founders: Member[];
  /** true: this member founds a new cluster when its data dir is empty; false: it joins one */
  bootstrap: boolean;
  /** Raft tick */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  /** applied entries between snapshots */
  snapshotCount: number;
  /** entries kept in the log behind a snapshot, for slow followers */
  snapshotCatchUpEntries: number;
  snapshotLogBytes: number;
  /** applied entries kept in memory, in bytes, for followers that fall behind (see trimLog) */
  logMemoryBytes: number;
  requestTimeoutMs: number;
  /** writes in flight on this member before new ones get RESOURCE_EXHAUSTED */
  maxPendingWrites: number;
  /** changes kept for resuming watches */
  historyEvents: number;
  /** how often the leader looks for containers and TTL nodes to delete */
  reapIntervalMs: number;
}

export interface Clock {
  now(): number;
}

export interface NodeDeps {
  log: LogStore;
  /** what the log held at start-up */
  recovered: RecoveredLog;
  snapshots: SnapshotFiles;
  transport: Transport;
  clock: Clock;
  /** seeded or not: used only for election timeouts */
  random: () => number;
  /** session secrets */
  randomBytes: (n: number) => Uint8Array;
  logger: Logger;
  metrics: ServerMetrics;
}

/** What the API layer hears about sessions from apply, and of the member's leader. */
export interface SessionListener {
  sessionClosed(id: number, expired: boolean): void;
  sessionMoved(id: number, from: number, to: number): void;
  /** Every tick while the member has no leader: for how long, in ms. */
  leaderless(ms: number): void;
}

export interface MemberStatus {
  id: number;
  role: Role | 'learner';
  leader: number;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  /** the first log entry held in memory, and the bytes of the entries held (see trimLog) */
  logFirstIndex: number;
  logMemoryBytes: number;
  clusterId: string;
  progress: { id: number; match: number; lag: number; active: boolean }[];
}

const TOUCH_FLUSH_TICKS = 2;
/**
 * How far a snapshot's encoding may run ahead of its file's writes: apply, paused while the state
 * machine is read, waits for the disk only past this much.
 */
const SNAPSHOT_AHEAD_BYTES = 64 * 1024 * 1024;
/**
 * How far a member streamed a snapshot as it is taken may fall behind its writing (SnapshotFeed):
 * the writer never waits for the member (apply may be paused meanwhile), so this much of the file
 * may be held in memory; a member further behind gets the finished file on its next attempt.
 */
const SNAPSHOT_STREAM_BACKLOG_BYTES = 256 * 1024 * 1024;
/**
 * A member sent a snapshot gets a new one, taken for it, when the entries applied since the latest
 * snapshot hold more than this share of that snapshot's bytes (ZooKeeper's snapshotSizeFactor,
 * 0.33, draws the same line between a DIFF and a SNAP): a member spends more time per byte on
 * entries than on a snapshot (in the benchmark's catch-up, 4.3 s for a 76 MB tail against 2.7 s to
 * receive and restore an 83 MB snapshot), and the leader streams a new snapshot as it takes it.
 */
const SNAPSHOT_TAIL_FACTOR = 1 / 3;
/** how long the entries after a snapshot sent to a member stay in memory for it at most (a member that died meanwhile never asks) */
const SNAPSHOT_FOLLOW_UP_MS = 60_000;
/**
 * Committed entries are applied in turns of at most this long, the event loop running in between:
 * a restarted member replays its whole log after a snapshot (1M creates: 3.5 s) and a member that
 * caught up applies what the leader sent meanwhile; in one turn, its client port, its health
 * checks and its peers' heartbeats went unanswered until the end.
 */
const APPLY_TURN_MS = 20;

export class ConclaveNode implements PeerHandlers {
  fsm: StateMachine;
  readonly watches = new WatchRegistry();
  history: EventHistory;
  readonly tracker: SessionTracker;
  private readonly raft: RawNode;
  private readonly pending: PendingWrites;
  private readonly readBarrier: ReadBarrier;
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  private sessionListener: SessionListener | undefined;
  private readonly leaderWaiters = new Set<() => void>();

  private leader = 0;
  /** since when this member has had no leader (from its start until it hears one); see leaderlessMs */
  private leaderlessSince: number | undefined;
  private role: Role = Role.Follower;
  /**
   * The leader this follower forwarded its writes to, lost (a failed pre-vote clears the leader),
   * while it waits to hear from it again in the same term: its writes are still in that leader's log.
   */
  private lostLeader: { id: number; term: number; since: number } | undefined;
  /** the term in which this member learned of its current leader */
  private leaderTerm = 0;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private readyScheduled = false;
  private whileWritingScheduled = false;
  /** when the write the Ready loop waits on began (performance.now()), if it waits on one */
  private persistStarted: number | undefined;
  private loopRunning = false;
  private fatal: Error | undefined;
  /** apply is paused while a snapshot is being taken or installed */
  private applyQueue: Entry[] = [];
  /** applyQueue's entries before this one are applied (the queue is emptied once all are) */
  private applyHead = 0;
  /** the queue holds more than one turn's worth (APPLY_TURN_MS): the next turn is scheduled */
  private applyTurnScheduled = false;
  /** why applying committed entries waits: a snapshot reading the state machine, or one replacing it */
  private readonly applyPausedFor = new Set<'snapshot' | 'install'>();
  private lastSnapshotIndex: number;
  private snapshotShare = 1;
  /** bytes of the entries applied since the last snapshot began, and the size of that snapshot's file */
  private bytesSinceSnapshot = 0;
  private lastSnapshotBytes = 0;
  private snapshotInProgress = false;
  /** the index of the snapshot being taken, while one is */
  private snapshotIndexInProgress: number | undefined;
  /**
   * On the leader: the snapshot sent to each member that has not caught up past it yet, and when
   * (performance.now()) it was sent; trimLog keeps the entries after it for SNAPSHOT_FOLLOW_UP_MS.
   */
  private readonly snapshotsSent = new Map<number, { index: number; at: number }>();
  /**
   * A snapshot received from the leader and restored while it streamed in (onSnapshot), for the Ready
   * that installs it; dropped once this member applied past it.
   */
  private receivedSnapshot: { index: number; term: number; fsm: StateMachine } | undefined;
  /** sessions seen alive here since the last touch batch to the leader */
  private touched = new Set<number>();
  private reaping = new Set<string>();
  /** addresses peers told us before the membership did (see onPeerAddress) */
  private readonly learnedPeers = new Map<number, string>();
  /** proposals made since the Ready loop last ran */
  private proposals: { data: Uint8Array; dropped: (error: ConclaveError) => void }[] = [];
  /** a hard state whose only change was the commit index, written with the next fsynced append */
  private unsyncedHardState: HardState | undefined;
  /** set while the WAL refuses writes (disk full, I/O error) */
  private storageFailure: Error | undefined;
  private lastReap = 0;
  /** the replay of the log found on disk: up to which index, from when (performance.now()), once started */
  private replay: { to: number; from: number; startedAt: number } | undefined;

  private constructor(
    readonly options: NodeOptions,
    private readonly deps: NodeDeps,
    fsm: StateMachine,
    private readonly raftStorage: MemoryStorage,
    applied: number,
  ) {
    this.fsm = fsm;
    this.leaderlessSince = deps.clock.now();
    // origin_seq numbers never repeat across restarts of this member: they start at the clock in ms
    // x 256, so a previous life would have had to take more than 256 writes per ms of its uptime to
    // reach them (JavaScript numbers stay exact until the year 2300).
    this.pending = new PendingWrites(Math.max(1, Math.floor(deps.clock.now()) * 256));
    this.lastSnapshotIndex = applied;
    this.drawSnapshotShare();
    this.history = new EventHistory(options.historyEvents, fsm.appliedIndex);
    this.tracker = new SessionTracker(options.tickMs);
    const now = deps.clock.now();
    for (const s of fsm.sessions.values()) this.tracker.add(s.id, s.timeoutMs, now);
    this.raft = new RawNode({
      id: options.id,
      storage: raftStorage,
      electionTick: options.electionTicks,
      heartbeatTick: options.heartbeatTicks,
      applied,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 64 * 1024 * 1024,
      checkQuorum: true,
      preVote: true,
      random: deps.random,
    });
    this.readBarrier = new ReadBarrier(
      (context) => this.raft.readIndex(contextBytes(context)),
      () => this.fsm.appliedIndex,
      options.requestTimeoutMs,
    );
  }

  /** Recovers a member from its data dir (snapshot + log), or bootstraps a new one. */
  static async open(options: NodeOptions, deps: NodeDeps): Promise<ConclaveNode> {
    const { snapshots, logger, recovered } = deps;
    const raftStorage = new MemoryStorage();
    let fsm = new StateMachine();
    let applied = 0;
    let snapshotBytes = 0;
    if (recovered.snapshot !== undefined) {
      const file = await findSnapshot(snapshots, recovered.snapshot.index);
      if (file === undefined) throw new Error(`the log names snapshot ${recovered.snapshot.index} but its file is missing`);
      snapshotBytes = file.bytes;
      fsm = await restoreFrom(snapshots.read(file.path));
      raftStorage.applySnapshot(recovered.snapshot);
      applied = recovered.snapshot.index;
      logger.info({ index: applied, nodes: fsm.tree.size, sessions: fsm.sessions.size }, 'restored snapshot');
    } else {
      // No snapshot yet: the state at index 0 is the founding configuration, the same on every
      // member (it is what the cluster id is derived from), so a joining member knows the founding
      // voters without being sent anything. The file lets a leader stream it like any snapshot.
      const genesis: SnapshotMeta = { index: 0, term: 0, conf: { voters: options.founders.map((m) => m.id), learners: [] } };
      raftStorage.applySnapshot(genesis);
      fsm.bootstrap(options.clusterId, options.founders);
      if ((await findSnapshot(snapshots, 0)) === undefined) await snapshots.write(genesis, snapshotRecords(fsm, genesis));
      if (recovered.entries.length === 0 && recovered.hardState === undefined) {
        if (options.bootstrap) {
          if (!genesis.conf.voters.includes(options.id)) {
            throw new Error(`member ${options.id} is not in the initial cluster; use --join to add a member to an existing cluster`);
          }
          logger.info({ voters: genesis.conf.voters }, 'founding a new cluster');
        } else if (genesis.conf.voters.includes(options.id)) {
          // A founding voter with no data in a running cluster lost its disk: voting with an empty
          // log could undo committed writes. It must be removed and added back as a learner.
          throw new Error(
            `member ${options.id} is a founding voter but its data dir is empty and the cluster already exists (join); ` +
              'remove it from the cluster and add it back as a learner',
          );
        } else {
          logger.info('joining an existing cluster: waiting for the leader to add this member');
        }
      }
    }
    if (fsm.cluster.clusterId !== options.clusterId) {
      throw new Error(`data dir belongs to cluster ${fsm.cluster.clusterId}, not ${options.clusterId}`);
    }
    if (fsm.cluster.removedIds.has(options.id)) {
      throw new Error(`member ${options.id} was removed from cluster ${options.clusterId} and may not rejoin with this id`);
    }
    if (recovered.hardState !== undefined) raftStorage.setHardState(recovered.hardState);
    if (recovered.entries.length > 0) raftStorage.append(recovered.entries);
    logger.info(
      { applied, lastIndex: raftStorage.lastIndex(), commit: recovered.hardState?.commit ?? 0 },
      'recovered log',
    );
    const node = new ConclaveNode(options, deps, fsm, raftStorage, applied);
    const commit = Math.min(recovered.hardState?.commit ?? 0, raftStorage.lastIndex());
    if (commit > applied) node.replay = { to: commit, from: applied, startedAt: 0 };
    node.lastSnapshotBytes = snapshotBytes;
    return node;
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    await this.deps.transport.start(this);
    this.deps.transport.setPeers(this.peerAddresses());
    this.deps.transport.greet();
    this.tickTimer = setInterval(() => this.tick(), this.options.tickMs);
    if (this.isSoleVoter()) this.raft.campaign();
    if (this.replay !== undefined) this.replay.startedAt = performance.now();
    this.scheduleReady();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.pending.failAll('the member is stopping');
    this.readBarrier.failAll('the member is stopping');
    await this.deps.transport.stop();
  }

  setSessionListener(listener: SessionListener): void {
    this.sessionListener = listener;
  }

  get id(): number {
    return this.options.id;
  }

  get leaderId(): number {
    return this.leader;
  }

  get isLeader(): boolean {
    return this.role === Role.Leader;
  }

  get appliedIndex(): number {
    return this.fsm.appliedIndex;
  }

  /** How long this member has had no leader, in ms (0 while it has one). */
  leaderlessMs(now = this.deps.clock.now()): number {
    return this.leaderlessSince === undefined ? 0 : now - this.leaderlessSince;
  }

  get pendingWrites(): number {
    return this.pending.size;
  }

  /** An unrecoverable error (storage failure, removal); the process should exit. */
  onFatal: (error: Error) => void = () => {};

  tick(): void {
    if (this.stopped) return;
    this.ticks++;
    this.raft.tick();
    const now = this.deps.clock.now();
    this.pending.expire(now);
    this.failLostWrites(now);
    this.readBarrier.tick(now);
    if (this.leaderlessSince !== undefined) this.sessionListener?.leaderless(now - this.leaderlessSince);
    if (this.isLeader) this.leaderDuties(now);
    else if (this.ticks % TOUCH_FLUSH_TICKS === 0) this.flushTouches();
    this.scheduleReady();
  }

  // ------------------------------------------------------------------ requests

  /**
   * Sends a write into the log. `callback` runs synchronously from apply with the outcome, or with
   * an error when the write cannot be (or can no longer be known to be) applied.
   */
  submitWrite(body: TxnBody | Pick<Txn, 'op' | 'createSession' | 'closeSession' | 'moveSession'>, sessionId: number, callback: WriteCallback, deadline?: number): void {
    if (this.fatal) return callback(new UnavailableError(`member is failing: ${this.fatal.message}`));
    if (this.storageFailure) return callback(new UnavailableError(`the member cannot write its log: ${this.storageFailure.message}; the write was not applied`));
    if (this.pending.size >= this.options.maxPendingWrites) {
      return callback(new ResourceExhaustedError(`member has ${this.pending.size} writes in flight; retry later`));
    }
    if (this.leader === 0) return callback(new UnavailableError('no leader (no quorum); the write was not applied'));
    const now = this.deps.clock.now();
    const seq = this.pending.add(callback, deadline ?? now + this.options.requestTimeoutMs);
    if (this.isLeader) {
      this.propose(encodeTxn(body, this.id, seq, sessionId, now), (error) => this.pending.fail(seq, error));
    } else {
      this.deps.transport.forward(this.leader, [{ originSeq: seq, txn: encodeTxn(body, this.id, seq, sessionId, 0) }]);
    }
  }

  /** Promise form of submitWrite, for callers that need no ordering with watch events. */
  write(body: Parameters<ConclaveNode['submitWrite']>[0], sessionId: number): Promise<ApplyOutcome> {
    return new Promise((resolve, reject) => {
      this.submitWrite(body, sessionId, (outcome) => (outcome instanceof ConclaveError ? reject(outcome) : resolve(outcome)));
    });
  }

  /** Waits for a quorum-confirmed read index and for apply to reach it (linearizable read, sync). */
  linearizableBarrier(callback: (error: ConclaveError | undefined) => void): void {
    if (this.leader === 0) return callback(new UnavailableError('no leader (no quorum): cannot confirm a linearizable read'));
    this.readBarrier.wait(callback, this.deps.clock.now());
    this.scheduleReady();
  }

  /** Resolves once this member has applied `index` (a resuming session's last seen zxid). */
  waitApplied(index: number): Promise<void> {
    if (this.fsm.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /** A session attached here did something: renew its lease at the leader. */
  touch(sessionId: number): void {
    if (this.isLeader) this.tracker.touch(sessionId, this.deps.clock.now());
    else this.touched.add(sessionId);
  }

  /** New session secret. */
  newSecret(): Uint8Array {
    return this.deps.randomBytes(16);
  }

  clampSessionTimeout(requested: number): number {
    const { minSessionTimeoutMs: min, maxSessionTimeoutMs: max } = this.options;
    return Math.min(max, Math.max(min, requested || max));
  }

  // ------------------------------------------------------------------ admin

  status(): MemberStatus {
    const st = this.raft.status();
    const lastIndex = this.raftStorage.lastIndex();
    const progress = st.progress
      ? [...st.progress.entries()].map(([id, p]) => ({ id, match: p.match, lag: Math.max(0, st.lastIndex - p.match), active: p.recentActive }))
      : [];
    const isLearner = st.conf.learners.includes(this.id);
    return {
      id: this.id,
      role: isLearner ? 'learner' : this.role,
      leader: this.leader,
      term: st.term,
      commitIndex: st.commit,
      appliedIndex: this.fsm.appliedIndex,
      lastIndex,
      snapshotIndex: this.lastSnapshotIndex,
      logFirstIndex: this.raftStorage.firstIndex(),
      logMemoryBytes: this.raftStorage.byteSize(),
      clusterId: this.fsm.cluster.clusterId,
      progress,
    };
  }

  members(): { members: Member[]; removedIds: number[] } {
    return { members: [...this.fsm.cluster.members.values()], removedIds: [...this.fsm.cluster.removedIds] };
  }

  /** Proposes a membership change and resolves once it is applied here. Leader only. */
  async changeMembership(type: ConfChangeType, memberId: number, member?: Member): Promise<void> {
    if (!this.isLeader) throw new NotLeaderError(`member ${this.id} is not the leader (leader: ${this.leader || 'none'})`);
    const context = member ? encodeMember(member) : undefined;
    try {
      this.raft.proposeConfChange({ type, memberId, context });
    } catch (error) {
      throw error instanceof ProposalDroppedError ? new UnavailableError(`membership change refused: ${error.message}`) : error;
    }
    this.scheduleReady();
    const target = this.raft.status().lastIndex;
    await this.waitApplied(target);
  }

  /** Resolves with the leader id once it changes from the current one, or after `timeoutMs` with whatever it is. */
  waitLeaderChange(timeoutMs: number): Promise<number> {
    const from = this.leader;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.leaderWaiters.delete(check);
        resolve(this.leader);
      }, timeoutMs);
      const check = () => {
        if (this.leader === from || this.leader === 0) return;
        clearTimeout(timer);
        this.leaderWaiters.delete(check);
        resolve(this.leader);
      };
      this.leaderWaiters.add(check);
    });
  }

  transferLeadership(to: number): void {
    if (!this.isLeader) throw new NotLeaderError(`member ${this.id} is not the leader (leader: ${this.leader || 'none'})`);
    this.raft.transferLeadership(to);
    this.scheduleReady();
  }

  /** Takes a snapshot of the applied state now. */
  async takeSnapshot(): Promise<number> {
    await this.snapshot();
    return this.lastSnapshotIndex;
  }

  /** The latest snapshot file, for streaming to an operator (snapshot save). */
  async latestSnapshot(): Promise<{ path: string } | undefined> {
    return this.deps.snapshots.latest();
  }

  openSnapshot(path: string): AsyncIterable<Uint8Array> {
    return this.deps.snapshots.openForSend(path);
  }

  // ------------------------------------------------------------------ peer handlers

  admit(from: number, clusterId: string): { refusal: Refusal; message: string } | undefined {
    if (clusterId !== this.fsm.cluster.clusterId) {
      return { refusal: 'CLUSTER_MISMATCH', message: `this is cluster ${this.fsm.cluster.clusterId}, not ${clusterId}` };
    }
    if (this.fsm.cluster.removedIds.has(from)) {
      return { refusal: 'MEMBER_REMOVED', message: `member ${from} was removed from cluster ${clusterId}` };
    }
    return undefined;
  }

  /**
   * A member that joined with an empty data dir knows only the founding members until it has the
   * membership; a leader it has not heard of yet tells its address with every batch.
   */
  onPeerAddress(from: number, address: string): void {
    if (this.fsm.cluster.members.has(from) || this.learnedPeers.get(from) === address) return;
    this.learnedPeers.set(from, address);
    this.deps.transport.setPeers(this.peerAddresses());
  }

  onMessages(_from: number, messages: Message[]): void {
    for (const m of messages) {
      try {
        this.raft.step(m);
      } catch (error) {
        this.deps.logger.debug({ err: error, type: m.type, from: m.from }, 'dropped raft message');
      }
    }
    this.applyStableCommitted();
    this.scheduleReady();
  }

  /**
   * Applies what became committed and is already durable here, at once: an ack (or the leader's
   * commit index) arriving while this member fsyncs its next batch would otherwise wait for that
   * fsync and the next Ready. Membership changes are left to the Ready (they change Raft itself).
   */
  private applyStableCommitted(): void {
    if (this.applyPausedFor.size > 0 || this.applyQueue.length > 0) return;
    const from = this.fsm.appliedIndex + 1;
    const to = Math.min(this.raft.stableCommitted(), this.raftStorage.lastIndex());
    if (to < from || from < this.raftStorage.firstIndex()) return;
    let applied = false;
    for (const entry of this.raftStorage.entries(from, to + 1, Number.MAX_SAFE_INTEGER)) {
      if (entry.type === EntryType.ConfChange) break;
      this.applyEntry(entry);
      applied = true;
    }
    if (applied) this.afterApply();
  }

  onTouches(_from: number, sessionIds: number[]): void {
    if (!this.isLeader) return;
    const now = this.deps.clock.now();
    for (const id of sessionIds) this.tracker.touch(id, now);
  }

  onForwards(from: number, forwards: ForwardedTxn[]): void {
    const reject = (originSeq: number, error: ConclaveError) =>
      this.deps.transport.reject(from, [{ originSeq, code: error.code, message: error.message }]);
    const now = this.deps.clock.now();
    for (const f of forwards) {
      if (this.isLeader) this.propose(stampTime(f.txn, now), (error) => reject(f.originSeq, error));
      else reject(f.originSeq, new NotLeaderError(`member ${this.id} is not the leader`));
    }
  }

  onRejections(_from: number, rejections: ForwardRejection[]): void {
    for (const r of rejections) {
      const code: ErrorCode = r.code === 'NOT_LEADER' ? 'UNAVAILABLE' : r.code;
      this.pending.fail(r.originSeq, new ConclaveError(code, `the write was not applied: ${r.message}`));
    }
  }

  /**
   * Stores a snapshot the leader streams, and restores the state machine from its records as they
   * arrive (the restore overlaps the transfer instead of following it and a second read of the
   * file); installSnapshot then swaps it in. Should that restore fail, installSnapshot restores
   * from the file, as at start-up.
   */
  async onSnapshot(from: number, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const meta = message.snapshot!;
    const started = performance.now();
    let restorer: SnapshotRestorer | undefined = new SnapshotRestorer();
    const restoring = (step: (r: SnapshotRestorer) => void) => {
      if (restorer === undefined) return;
      try {
        step(restorer);
      } catch (error) {
        restorer = undefined;
        this.deps.logger.warn({ err: error, index: meta.index }, 'restoring a snapshot as it arrived failed: it will be restored from its file');
      }
    };
    await this.deps.snapshots.receive(meta, chunks, (records) => restoring((r) => records.forEach((bytes) => addSnapshotRecord(r, bytes))));
    restoring((r) => (this.receivedSnapshot = { index: meta.index, term: meta.term, fsm: r.finish() }));
    this.deps.logger.info({ from, index: meta.index, term: meta.term, ms: Math.round(performance.now() - started) }, 'received snapshot');
    this.onMessages(from, [message]);
  }

  onDisconnected(from: number): void {
    this.raft.reportDisconnected(from);
    this.scheduleReady();
  }

  onRefused(peer: number, refusal: Refusal, message: string): void {
    if (refusal === 'MEMBER_REMOVED' || refusal === 'CLUSTER_MISMATCH') {
      this.die(new Error(`refused by member ${peer}: ${message}`));
    }
  }

  // ------------------------------------------------------------------ the Ready loop

  private scheduleReady(): void {
    if (this.loopRunning) return this.scheduleWhileWriting();
    if (this.readyScheduled || this.stopped) return;
    this.readyScheduled = true;
    setImmediate(() => {
      this.readyScheduled = false;
      void this.runReadyLoop();
    });
  }

  /**
   * While the Ready loop waits for this member's fsync, every member applies what a quorum made
   * durable meanwhile (applyWhileWriting), and a leader proposes what has queued and sends its
   * replication messages at once (RawNode.takeLeaderReplication): the followers write new entries in
   * parallel with the leader's current fsync instead of after it, and learn commit indexes as soon
   * as the acks arrive. A leader does not send while its storage fails or its write has taken two
   * election timeouts (stalledPersistMs): a leader that cannot persist must let its heartbeats stop,
   * so that the others elect a leader that can.
   */
  private scheduleWhileWriting(): void {
    if (this.whileWritingScheduled || this.stopped) return;
    this.whileWritingScheduled = true;
    setImmediate(() => {
      this.whileWritingScheduled = false;
      if (!this.loopRunning || this.stopped || this.fatal) return; // the loop itself does it
      this.applyWhileWriting();
      if (this.raft.role !== Role.Leader || this.storageFailure !== undefined) return;
      if (this.persistStarted !== undefined && performance.now() - this.persistStarted > this.stalledPersistMs()) return;
      this.flushProposals();
      this.sendMessages(this.raft.takeLeaderReplication());
    });
  }

  /**
   * While this member's log write runs, applies (and answers) what a quorum has made durable
   * meanwhile (RawNode.takeCommittedEntries): on a leader whose followers acked before its own
   * write returned, and on a follower told the commit index of entries it is still writing, the
   * answer no longer waits for this member's disk. Entries are applied in log order either way.
   */
  private applyWhileWriting(): void {
    const committed = this.raft.takeCommittedEntries();
    if (committed.length === 0) return;
    this.deps.metrics.proposalsCommitted.inc(committed.length);
    this.applyQueue.push(...committed);
    this.drainApplyQueue();
  }

  /**
   * A write of the log taking longer than this (two election timeouts: 1 s with the defaults) stops
   * a leader's heartbeats, so that a leader whose disk hangs is replaced. Half an election timeout
   * (before) cost leaderships for nothing: on a shared disk, WAL writes of 270-350 ms came several
   * times a minute under the benchmark's 4x4 writes, and a new leader's disk is no faster.
   */
  private stalledPersistMs(): number {
    return 2 * this.options.electionTicks * this.options.tickMs;
  }

  private async runReadyLoop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    try {
      this.flushProposals();
      while (!this.stopped && !this.fatal && this.raft.hasReady()) {
        await this.handleReady(this.raft.ready());
        this.flushProposals();
      }
    } catch (error) {
      this.die(error as Error);
    } finally {
      this.loopRunning = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    // A leader replicates while it writes its own copy (RawNode.replicationFirst): the core counts
    // the leader's own entries toward commit only after advance(), so nothing commits on an
    // unsynced leader.
    const { early, afterWrite: messages } = this.raft.replicationFirst(rd.messages);
    this.sendMessages(early);
    if (rd.committedEntries.length > 0) {
      // Committed means durable on a quorum, so apply (and answer clients) before this member's own
      // fsync of newer entries: otherwise every write would wait for the next batch's fsync too.
      this.deps.metrics.proposalsCommitted.inc(rd.committedEntries.length);
      this.applyQueue.push(...rd.committedEntries);
      this.drainApplyQueue();
    }
    if (rd.mustSync) {
      const started = performance.now();
      this.persistStarted = started;
      try {
        await this.persist(rd.entries, rd.hardState ?? this.unsyncedHardState);
      } finally {
        this.persistStarted = undefined;
      }
      this.unsyncedHardState = undefined;
      const tookMs = performance.now() - started;
      this.deps.metrics.walFsyncSeconds.observe(tookMs / 1000);
      if (tookMs > this.stalledPersistMs() && this.role === Role.Leader) {
        this.deps.logger.warn({ ms: Math.round(tookMs), entries: rd.entries.length }, 'writing the log took over two election timeouts: this leader held back its heartbeats meanwhile');
      }
      if (rd.entries.length > 0) this.raftStorage.append(rd.entries);
    } else if (rd.hardState) {
      // Only the commit index moved: it need not be durable (Raft recovers it), so it rides along
      // with the next write instead of costing an fsync of its own.
      this.unsyncedHardState = rd.hardState;
    }
    if (rd.hardState) this.raftStorage.setHardState(rd.hardState);
    this.sendMessages(messages);
    for (const rs of rd.readStates) this.readBarrier.onReadState(readContext(rs.context), rs.index);
    this.raft.advance(rd);
    if (this.receivedSnapshot !== undefined && this.receivedSnapshot.index <= this.fsm.appliedIndex) this.receivedSnapshot = undefined;
    this.maybeSnapshot();
    this.trimLog();
  }

  /**
   * Bounds the memory the log takes: applied entries beyond the newest `logMemoryBytes` are dropped
   * from memory (the WAL keeps them until a snapshot covers them), whether or not a snapshot covers
   * them yet. A follower that needs one of them gets a snapshot instead, taken anew if the latest
   * one is older (sendSnapshot). Without this, large values filled memory until the next snapshot
   * (310 MiB after ten seconds of 100 KB writes in the benchmark). Never drops what a snapshot
   * being taken or sent still needs to be followed by.
   */
  private trimLog(): void {
    const budget = this.options.logMemoryBytes;
    // Trim in steps of a quarter of the budget, not on every apply: each trim copies the entry array.
    if (this.raftStorage.byteSize() <= budget + budget / 4) return;
    const status = this.raft.status();
    let upTo = Math.min(this.fsm.appliedIndex, status.applied, this.raftStorage.lastIndex());
    if (this.snapshotIndexInProgress !== undefined) upTo = Math.min(upTo, this.snapshotIndexInProgress);
    const now = performance.now();
    for (const [id, sent] of this.snapshotsSent) {
      const match = status.progress?.get(id)?.match;
      if (match === undefined || match >= sent.index || now - sent.at > SNAPSHOT_FOLLOW_UP_MS) this.snapshotsSent.delete(id);
      else upTo = Math.min(upTo, sent.index);
    }
    this.raftStorage.release(budget, upTo);
  }

  /**
   * Appends to the WAL; while the disk is full or failing, retries until it works again and refuses
   * new writes meanwhile (nothing is acknowledged that is not durable). A log that failed for good
   * stops the member.
   */
  private async persist(entries: Entry[], hardState: HardState | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deps.log.append(entries, hardState);
        if (this.storageFailure) {
          this.deps.logger.info('storage works again: accepting writes');
          this.storageFailure = undefined;
        }
        return;
      } catch (error) {
        if (error instanceof WalClosedError || !(error instanceof StorageFullError || error instanceof StorageIoError)) throw error;
        if (!this.storageFailure) {
          this.deps.logger.error({ err: error }, 'cannot write the log: refusing writes until it works again');
          this.pending.failAll(`the member cannot write its log (${error.message})`);
        }
        this.storageFailure = error;
        if (this.stopped) throw error;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  private sendMessages(messages: Message[]): void {
    const regular: Message[] = [];
    for (const m of messages) {
      if (m.type === MessageType.Snap) this.sendSnapshot(m);
      else regular.push(m);
    }
    if (regular.length > 0) {
      this.deps.transport.send(regular);
      // A Ready's (or the early replication's) messages are a batch already: waiting for the end of
      // the turn would only delay them (a follower's fsync cannot start before they arrive).
      this.deps.transport.flush();
    }
  }

  private sendSnapshot(message: Message): void {
    const meta = message.snapshot!;
    const beyondLog = meta.index < this.raftStorage.firstIndex() - 1;
    const longTail = this.bytesSinceSnapshot > SNAPSHOT_TAIL_FACTOR * this.lastSnapshotBytes;
    if (beyondLog || longTail) {
      // The log in memory no longer reaches back to the latest snapshot (trimLog), or what was
      // applied since would take the member longer to replay than a newer snapshot to restore: take
      // one and stream it to the member as it is written. While another snapshot is being taken, a
      // later attempt (at Raft's probe pace, every heartbeat) sends the finished file.
      if (!this.snapshotInProgress) {
        const why = beyondLog ? 'the log kept in memory no longer reaches the latest snapshot' : 'the log since the latest snapshot is long';
        this.deps.logger.info({ member: message.to, snapshot: meta.index, firstIndex: this.raftStorage.firstIndex(), tailBytes: this.bytesSinceSnapshot, snapshotBytes: this.lastSnapshotBytes }, `taking a snapshot for a member: ${why}`);
        void this.snapshot(message);
      } else {
        this.raft.reportSnapshot(message.to, false);
      }
      return;
    }
    findSnapshot(this.deps.snapshots, meta.index).then((file) => {
      if (file === undefined) {
        // No file holds that state: a cluster that has not snapshotted yet offers its founding
        // state (index 0), which has none. Take a snapshot now; the next attempt sends it.
        void this.snapshot();
        this.raft.reportSnapshot(message.to, false);
        return;
      }
      this.streamSnapshot(message, () => this.deps.snapshots.openForSend(file.path));
    }, (error) => {
      // Raft waits for an outcome before it sends this member anything again: without this report
      // the member stayed behind for good (a snapshot pruned while the list was read, nemesis seed
      // 168351179). A later probe tries again.
      this.deps.logger.warn({ err: error }, 'cannot send snapshot');
      this.raft.reportSnapshot(message.to, false);
      this.scheduleReady();
    });
  }

  /**
   * Streams the snapshot `message` names to its member and reports the outcome to Raft. Until the
   * member has caught up past it, trimLog keeps the entries that follow it (snapshotsSent).
   */
  private streamSnapshot(message: Message, open: () => AsyncIterable<Uint8Array>, failed?: () => void): void {
    const to = message.to;
    const index = message.snapshot!.index;
    this.snapshotsSent.set(to, { index, at: performance.now() });
    this.deps.transport.sendSnapshot(message, open, (ok) => {
      if (ok) this.snapshotsSent.set(to, { index, at: performance.now() });
      else {
        this.snapshotsSent.delete(to);
        failed?.();
      }
      this.raft.reportSnapshot(to, ok);
      this.scheduleReady();
    });
  }

  private onSoftState(leader: number, role: Role): void {
    const previous = this.leader;
    const leaderChanged = leader !== previous;
    const wasLeader = this.role === Role.Leader;
    this.leader = leader;
    this.role = role;
    if (leaderChanged) {
      this.leaderlessSince = leader === 0 ? this.deps.clock.now() : undefined;
      this.deps.logger.info({ leader, role }, leader === 0 ? 'lost the leader' : 'new leader');
      this.deps.metrics.leaderChanges.inc();
      const lost = this.lostLeader;
      this.lostLeader = undefined;
      if (leader === 0) {
        // A follower that campaigns (its leader went quiet, or the connection from it closed) has no
        // leader until a vote decides; if the same leader speaks again in the same term, the writes
        // forwarded to it are still in its log. So keep them for a while (see failLostWrites);
        // reads are retried cheaply, so they fail at once.
        if (wasLeader || previous === 0) this.pending.failAll('the leader was lost');
        else this.lostLeader = { id: previous, term: this.leaderTerm, since: this.deps.clock.now() };
        this.readBarrier.failAll('the leader was lost');
      } else {
        this.leaderTerm = this.raft.term;
        if (lost === undefined || lost.id !== leader || lost.term !== this.leaderTerm) this.pending.failAll(`the leader changed to member ${leader}`);
      }
      for (const check of [...this.leaderWaiters]) check();
    }
    if (role === Role.Leader && !wasLeader) {
      this.tracker.resetAll(this.deps.clock.now());
      this.reaping.clear();
    }
  }

  /**
   * The writes kept through a loss of the leader fail (outcome unknown) once this member moves to a
   * new term, which that leader cannot commit in, or when no leader came back within two election
   * timeouts.
   */
  private failLostWrites(now: number): void {
    const lost = this.lostLeader;
    if (lost === undefined) return;
    const patienceMs = 2 * this.options.electionTicks * this.options.tickMs;
    if (this.raft.term === lost.term && now - lost.since < patienceMs) return;
    this.lostLeader = undefined;
    this.pending.failAll('the leader was lost');
  }

  // ------------------------------------------------------------------ apply

  /** Applies the queue in order, for APPLY_TURN_MS at most; the rest in the next turn of the loop. */
  private drainApplyQueue(): void {
    if (this.applyPausedFor.size > 0 || this.applyTurnScheduled || this.stopped) return;
    const until = performance.now() + APPLY_TURN_MS;
    const queue = this.applyQueue;
    let i = this.applyHead;
    while (i < queue.length && this.applyPausedFor.size === 0) {
      this.applyEntry(queue[i++]!);
      if (i < queue.length && performance.now() > until) {
        this.applyTurnScheduled = true;
        setImmediate(() => {
          this.applyTurnScheduled = false;
          this.drainApplyQueue();
        });
        break;
      }
    }
    // A long replay ends many turns early: keep a head instead of copying the rest each time, and
    // drop the applied part once it is most of the queue (a queue that never empties stays bounded).
    if (i === queue.length) {
      this.applyQueue = [];
      this.applyHead = 0;
    } else if (i > 1024 && 2 * i > queue.length) {
      this.applyQueue = queue.slice(i);
      this.applyHead = 0;
    } else this.applyHead = i;
    this.afterApply();
  }

  /** What waits on apply: linearizable reads, sessions catching up, metrics. */
  private afterApply(): void {
    const applied = this.fsm.appliedIndex;
    if (this.replay !== undefined && applied >= this.replay.to) {
      const { to, from, startedAt } = this.replay;
      this.replay = undefined;
      this.deps.logger.info({ entries: to - from, index: to, nodes: this.fsm.tree.size, ms: Math.round(performance.now() - startedAt) }, 'replayed the log');
    }
    this.readBarrier.onApplied(applied);
    if (this.appliedWaiters.length > 0) {
      const ready = this.appliedWaiters.filter((w) => w.index <= applied);
      if (ready.length > 0) {
        this.appliedWaiters.splice(0, this.appliedWaiters.length, ...this.appliedWaiters.filter((w) => w.index > applied));
        for (const w of ready) w.resolve();
      }
    }
    this.deps.metrics.applied(this.fsm);
  }

  /**
   * Snapshots once `snapshotCount` entries were applied, or once the entries applied since the last
   * snapshot hold more bytes than twice its file and `snapshotLogBytes`: large writes would
   * otherwise grow the log, the replay on restart and the catch-up of a new member far past the size
   * of the state, while this bound keeps the snapshots' cost at half the log's writes or less.
   * Only what this member's own log already holds.
   *
   * Each member goes by its own random share of both thresholds, between half and all of them,
   * drawn anew after each snapshot (as ZooKeeper does with snapCount): members that apply the same
   * log would otherwise snapshot at the same index, at the same moment, and the fsyncs of three
   * snapshot files, their directories and the log's compaction on one disk stalled every member's
   * log writes together (the worst write latencies under load: 30-50 ms, at each snapshot; with a
   * share each, one member's stall leaves the other two a quorum).
   */
  private maybeSnapshot(): void {
    const applied = this.fsm.appliedIndex;
    if (this.snapshotInProgress) return;
    const share = this.snapshotShare;
    const byBytes = this.bytesSinceSnapshot > share * Math.max(this.options.snapshotLogBytes, 2 * this.lastSnapshotBytes);
    if (applied - this.lastSnapshotIndex < share * this.options.snapshotCount && !byBytes) return;
    if (applied > this.raftStorage.lastIndex()) return;
    void this.snapshot();
  }

  private applyEntry(entry: Entry): void {
    if (entry.index <= this.fsm.appliedIndex) return;
    this.bytesSinceSnapshot += entry.data.length;
    if (entry.type === EntryType.ConfChange) return this.applyConfChange(entry);
    if (entry.data.length === 0) return this.fsm.advance(entry.index, entry.term);
    const txn = decodeTxn(entry.data);
    const outcome = this.fsm.apply(entry.index, entry.term, txn);
    for (const change of outcome.changes) {
      this.history.append(change);
      this.watches.trigger(change);
    }
    if (txn.origin === this.id) this.pending.applied(txn.originSeq, outcome);
    this.afterSessionChanges(txn, outcome);
  }

  private afterSessionChanges(txn: Txn, outcome: ApplyOutcome): void {
    const now = this.deps.clock.now();
    if (outcome.result.op === 'createSession') {
      const s = outcome.result.session;
      this.tracker.add(s.id, s.timeoutMs, now);
    }
    for (const id of outcome.closedSessions) {
      this.tracker.remove(id);
      this.sessionListener?.sessionClosed(id, txn.closeSession?.expired ?? false);
    }
    if (outcome.movedSession) {
      const { id, from, to } = outcome.movedSession;
      this.sessionListener?.sessionMoved(id, from, to);
    }
    if (outcome.result.op === 'reap') this.reaping.delete(txn.reap!.path);
  }

  private applyConfChange(entry: Entry): void {
    const cc = decodeConfChange(entry.data);
    this.raft.applyConfChange(cc);
    const member = cc.context && cc.context.length > 0 ? decodeMember(cc.context) : undefined;
    const type = cc.type === ConfChangeType.AddLearner ? 'ADD_LEARNER' : cc.type === ConfChangeType.Promote ? 'PROMOTE' : 'REMOVE';
    this.fsm.applyConfChange(entry.index, entry.term, { type, memberId: cc.memberId, member });
    this.deps.logger.info({ type, member: cc.memberId, index: entry.index }, 'membership changed');
    this.deps.transport.setPeers(this.peerAddresses());
    if (type === 'REMOVE' && cc.memberId === this.id) {
      // A member catching up from the start of the log may be replaying the removal of an earlier
      // member with its id, re-added since: stop only if it is still removed once caught up.
      const grace = 3 * this.options.electionTicks * this.options.tickMs;
      setTimeout(() => {
        if (this.fsm.cluster.removedIds.has(this.id)) this.die(new Error(`member ${this.id} was removed from the cluster`));
      }, grace).unref();
    }
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * Takes a snapshot. With `streamTo` (a MsgSnap Raft asked for, for a member behind the log kept in
   * memory), the file is also streamed to that member as it is written, as that snapshot.
   */
  /** This member's share of the snapshot thresholds until its next snapshot (maybeSnapshot): [0.5, 1). */
  private drawSnapshotShare(): void {
    const bytes = this.deps.randomBytes(2);
    this.snapshotShare = 0.5 + ((bytes[0]! << 8) | bytes[1]!) / 0x20000;
  }

  private async snapshot(streamTo?: Message): Promise<void> {
    if (this.snapshotInProgress) {
      if (streamTo !== undefined) this.raft.reportSnapshot(streamTo.to, false);
      return;
    }
    this.snapshotInProgress = true;
    this.applyPausedFor.add('snapshot');
    const started = performance.now();
    let feed: SnapshotFeed | undefined;
    try {
      const index = this.fsm.appliedIndex;
      this.snapshotIndexInProgress = index;
      const meta: SnapshotMeta = { index, term: this.fsm.appliedTerm, conf: this.raft.status().conf };
      this.bytesSinceSnapshot = 0;
      if (streamTo !== undefined) {
        const stream = new SnapshotFeed(SNAPSHOT_STREAM_BACKLOG_BYTES);
        feed = stream;
        this.deps.logger.info({ member: streamTo.to, index }, 'streaming the snapshot to the member as it is taken');
        this.streamSnapshot({ ...streamTo, snapshot: meta }, () => stream.chunks(), () => stream.fail(new Error('the stream to the member failed')));
      }
      // Applying waits only while the records are read from the state machine, not for the file's
      // fsync, the log compaction and the pruning that follow; the encoding runs up to
      // SNAPSHOT_AHEAD_BYTES ahead of the file's writes, and a member it streams to gets each chunk
      // as it is encoded.
      const records = this.recordsOf(meta, () => this.resumeApply('snapshot'));
      const written = await this.deps.snapshots.write(meta, records, { onChunk: feed && ((chunk) => feed!.push(chunk)), aheadBytes: SNAPSHOT_AHEAD_BYTES });
      this.lastSnapshotBytes = written.bytes;
      feed?.end();
      this.raftStorage.createSnapshot(index, meta.conf);
      await this.deps.log.saveSnapshotMarker(meta);
      // Never past what Raft has counted applied: entries applied here as soon as they were committed
      // (applyStableCommitted) are still to come in a Ready, from the log in memory.
      const compactTo = Math.min(index - this.options.snapshotCatchUpEntries, this.raft.status().applied);
      // (trimLog may have dropped more than that from memory already; the WAL's files go by this)
      if (compactTo > this.raftStorage.firstIndex()) this.raftStorage.compact(compactTo);
      if (compactTo > 1) await this.deps.log.releaseBefore(compactTo);
      await this.deps.snapshots.prune(2);
      this.lastSnapshotIndex = index;
      this.drawSnapshotShare();
      this.deps.metrics.snapshotSeconds.observe((performance.now() - started) / 1000);
      this.deps.logger.info({ index, nodes: this.fsm.tree.size, ms: Math.round(performance.now() - started) }, 'snapshot taken');
    } catch (error) {
      if (feed !== undefined) feed.fail(error as Error);
      else if (streamTo !== undefined) this.raft.reportSnapshot(streamTo.to, false);
      this.deps.logger.error({ err: error }, 'snapshot failed');
    } finally {
      this.snapshotInProgress = false;
      this.snapshotIndexInProgress = undefined;
      this.resumeApply('snapshot');
    }
  }

  private resumeApply(reason: 'snapshot' | 'install'): void {
    if (this.applyPausedFor.delete(reason) && this.applyPausedFor.size === 0) this.drainApplyQueue();
  }

  /**
   * The snapshot's records (encodeSnapshot reads them in slices, giving the event loop a turn
   * between them: Raft keeps running); `read` is called once the last record was read.
   */
  private *recordsOf(meta: SnapshotMeta, read: () => void): Generator<EncodableRecord> {
    yield* snapshotRecords(this.fsm, meta);
    read();
  }

  /** The leader sent a snapshot (already stored by onSnapshot): replace the state machine with it. */
  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    this.applyPausedFor.add('install');
    try {
      const file = await findSnapshot(this.deps.snapshots, meta.index);
      if (file === undefined) throw new Error(`snapshot ${meta.index} was not received`);
      const received = this.receivedSnapshot;
      this.receivedSnapshot = undefined;
      const restored = received !== undefined && received.index === meta.index && received.term === meta.term;
      const fsm = restored ? received.fsm : await restoreFrom(this.deps.snapshots.read(file.path));
      this.raftStorage.applySnapshot(meta);
      await this.deps.log.saveSnapshotMarker(meta);
      const previous = this.fsm;
      this.fsm = fsm;
      this.applyQueue = this.applyQueue.slice(this.applyHead).filter((e) => e.index > meta.index);
      this.applyHead = 0;
      this.lastSnapshotIndex = meta.index;
      this.drawSnapshotShare();
      this.lastSnapshotBytes = file.bytes;
      this.bytesSinceSnapshot = 0;
      this.history.reset(meta.index);
      this.resumeWatchesAfterInstall(previous);
      this.resumeSessionsAfterInstall(previous);
      // The writes this member forwarded may be among the entries the snapshot covers, whose
      // outcomes it will never apply here: their outcome is unknown.
      this.pending.failAll('the member caught up by a snapshot from the leader');
      this.deps.transport.setPeers(this.peerAddresses());
      this.deps.logger.info({ index: meta.index, nodes: fsm.tree.size, restoredWhileReceiving: restored }, 'installed snapshot from the leader');
    } finally {
      this.resumeApply('install');
    }
  }

  /**
   * The sessions' changes the installed snapshot covers were never applied here, so nothing told
   * the streams attached here or the tracker: a session it no longer holds was closed or expired
   * (its ephemeral nodes are gone: its stream ends with SESSION_EXPIRED, as ZooKeeper tells a
   * client whose session ended while it was away; both look the same from the snapshot), one owned
   * by another member now moved there (SESSION_MOVED). Left attached, such a stream went on
   * answering reads of a tree without its session's nodes, a session the cluster had ended: a
   * nemesis run caught exactly that.
   */
  private resumeSessionsAfterInstall(previous: StateMachine): void {
    const now = this.deps.clock.now();
    for (const [id, before] of previous.sessions) {
      const after = this.fsm.sessions.get(id);
      if (after === undefined) {
        this.tracker.remove(id);
        this.sessionListener?.sessionClosed(id, true);
      } else if (after.owner !== before.owner) {
        this.sessionListener?.sessionMoved(id, before.owner, after.owner);
      }
    }
    for (const s of this.fsm.sessions.values()) this.tracker.add(s.id, s.timeoutMs, now);
    // A reap the snapshot covers is never applied here.
    this.reaping.clear();
  }

  /**
   * The watches armed here saw none of the changes the installed snapshot covers: re-arm each as a
   * client resuming from the old applied index without history would be (watch/restore.ts): one-shot
   * watches compared with the new tree (fired if their node changed), persistent ones WATCH_RESET.
   */
  private resumeWatchesAfterInstall(previous: StateMachine): void {
    for (const watcher of this.watches.watchers()) {
      const held = this.watches.watchesOf(watcher);
      this.watches.removeWatcher(watcher);
      // One table holds both data watches (node existed) and exist watches (it did not).
      const existed = held.data.filter((path) => previous.tree.get(path) !== undefined);
      restoreWatches(
        {
          relativeZxid: previous.appliedIndex,
          dataWatches: existed,
          existWatches: held.data.filter((path) => !existed.includes(path)),
          childWatches: held.child,
          persistentWatches: held.persistent,
          persistentRecursiveWatches: held.recursive,
        },
        watcher,
        this.watches,
        this.fsm.tree,
        this.history,
        this.fsm.appliedIndex,
      );
    }
  }

  // ------------------------------------------------------------------ leader duties

  private leaderDuties(now: number): void {
    // `role` is updated by the Ready loop, which waits while the disk is full: a deposed leader would
    // go on expiring the sessions the cluster now renews elsewhere. Ask the core.
    if (this.raft.role !== Role.Leader) return;
    // Each expired session is reported once, and again after a timeout if its close was lost.
    for (const id of this.tracker.expired(now, this.options.maxSessionTimeoutMs)) {
      this.proposeInternal({ op: 'closeSession', closeSession: { sessionId: id, expired: true } }, now);
    }
    if (now - this.lastReap >= this.options.reapIntervalMs) {
      this.lastReap = now;
      for (const r of this.fsm.reapable(now, 100)) {
        if (this.reaping.has(r.path)) continue;
        this.reaping.add(r.path);
        this.proposeInternal({ op: 'reap', reap: r }, now);
      }
    }
  }

  private proposeInternal(body: Partial<Txn>, now: number): void {
    this.propose(encodeTxn(body, 0, 0, 0, now), (error) =>
      this.deps.logger.warn({ err: error, op: body.op }, 'leader could not propose'),
    );
  }

  /**
   * Queues a proposal; the Ready loop proposes everything queued in one batch (one Raft append and
   * one MsgApp per follower for all of them). `dropped` hears if the batch could not be proposed.
   */
  private propose(data: Uint8Array, dropped: (error: ConclaveError) => void): void {
    this.proposals.push({ data, dropped });
    this.scheduleReady();
  }

  private flushProposals(): void {
    if (this.proposals.length === 0) return;
    const batch = this.proposals;
    this.proposals = [];
    if (this.raft.role !== Role.Leader) {
      // Not through Raft's forwarding: a write decided by a leader (an expiry, a stamped time)
      // must not be carried out by the next one.
      const e = new UnavailableError('leadership moved before the write was proposed; it was not applied');
      for (const p of batch) p.dropped(e);
      return;
    }
    try {
      this.raft.proposeBatch(batch.map((p) => p.data));
    } catch (error) {
      const e = error instanceof ProposalDroppedError ? new UnavailableError(`the leader dropped the write: ${error.message}`) : asConclaveError(error);
      for (const p of batch) p.dropped(e);
    }
  }

  private flushTouches(): void {
    if (this.touched.size === 0 || this.leader === 0) return;
    this.deps.transport.sendTouches(this.leader, [...this.touched]);
    this.touched = new Set();
  }

  // ------------------------------------------------------------------ helpers

  private peerAddresses(): Map<number, string> {
    const peers = new Map<number, string>();
    for (const [id, address] of this.learnedPeers) if (!this.fsm.cluster.members.has(id)) peers.set(id, address);
    for (const m of this.fsm.cluster.members.values()) if (m.id !== this.id) peers.set(m.id, m.peerAddress);
    return peers;
  }

  /** This member's peer address, as the membership records it. */
  get peerAddress(): string {
    return this.fsm.cluster.members.get(this.id)?.peerAddress ?? '';
  }

  private isSoleVoter(): boolean {
    const conf = this.raft.status().conf;
    return conf.voters.length === 1 && conf.voters[0] === this.id;
  }

  private die(error: Error): void {
    if (this.fatal) return;
    this.fatal = error;
    this.deps.logger.fatal({ err: error }, 'member stopping');
    this.pending.failAll(`member failed: ${error.message}`);
    this.onFatal(error);
  }
}

async function findSnapshot(snapshots: SnapshotFiles, index: number): Promise<{ path: string; bytes: number } | undefined> {
  return (await snapshots.list()).find((s) => s.meta.index === index);
}

async function restoreFrom(records: AsyncIterable<Uint8Array[]>): Promise<StateMachine> {
  const restorer = new SnapshotRestorer();
  for await (const batch of records) for (const bytes of batch) addSnapshotRecord(restorer, bytes);
  return restorer.finish();
}

function contextBytes(context: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, context);
  return out;
}

function readContext(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0);
}

