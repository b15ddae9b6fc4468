/**
 * RawNode: the only API of the Raft core the node layer uses (after etcd-io/raft's RawNode,
 * synchronous storage writes). Inputs: tick(), step(), propose*(), readIndex(), report*().
 * Output: ready() → persist, send, apply → advance(). See README.md for the contract.
 */

import { encodeConfChange } from './confchange.js';
import { InvalidConfChangeError, ProposalDroppedError, RaftInvariantError } from './errors.js';
import type { ProgressState } from './progress.js';
import { Raft, newMessage, type Logger } from './raft.js';
import type { Storage } from './storage.js';
import {
  EntryType,
  MessageType,
  NONE,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type MemberId,
  type Message,
  Role,
  type Ready,
  type SoftState,
} from './types.js';

export type { Logger } from './raft.js';

export interface RawNodeConfig {
  /** This member's id, > 0. */
  id: MemberId;
  storage: Storage;
  /** Ticks without a leader before campaigning; the timeout is randomized in [electionTick, 2*electionTick). Default 10. */
  electionTick?: number;
  /** Ticks between the leader's heartbeats, < electionTick. Default 1. */
  heartbeatTick?: number;
  /** Index already applied to the state machine at start. Default: the storage's snapshot index. */
  applied?: number;
  /** Bytes of entries per MsgApp (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Bytes of committed entries per Ready (at least one). Default: maxSizePerMsg. */
  maxCommittedSizePerReady?: number;
  /** MsgApp in flight per follower while replicating (pipelining). Default 256. */
  maxInflightMsgs?: number;
  /** Bytes of uncommitted entry data on the leader beyond which proposals are dropped. Default: no limit. */
  maxUncommittedEntriesSize?: number;
  /** The leader steps down when it has not heard from a quorum for an election timeout. Default true. */
  checkQuorum?: boolean;
  /** Campaign with a pre-vote first, so a member cut off cannot disrupt the cluster. Default true. */
  preVote?: boolean;
  /** Seeded source of randomness in [0, 1): the only one the core uses. */
  random: () => number;
  logger?: Logger;
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  isLearner: boolean;
}

export interface Status {
  id: MemberId;
  term: number;
  vote: MemberId;
  commit: number;
  applied: number;
  lastIndex: number;
  leader: MemberId;
  role: Role;
  conf: ConfState;
  /** On the leader: each member's replication progress (this member included). */
  progress: Map<MemberId, ProgressStatus> | undefined;
  /** On the leader: the member leadership is being transferred to, or NONE. */
  leadTransferee: MemberId;
}

const MIB = 1024 * 1024;

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /**
   * Set between ready() and advance(): the leader's self-acknowledgement, if any, and the committed
   * entries taken meanwhile (takeCommittedEntries), which advance() counts applied.
   */
  private outstanding: { ackTerm: number; ackIndex: number; taken: Entry[] } | undefined = undefined;
  /** The term on this member's disk: that of the last advanced Ready carrying a HardState. */
  private durableTerm: number;

  constructor(config: RawNodeConfig) {
    const electionTick = config.electionTick ?? 10;
    const heartbeatTick = config.heartbeatTick ?? 1;
    const maxSizePerMsg = config.maxSizePerMsg ?? MIB;
    const snapshotIndex = config.storage.snapshot().index;
    const applied = config.applied ?? snapshotIndex;
    if (!(config.id > 0)) throw new RaftInvariantError(`invalid member id ${config.id}`);
    if (!(heartbeatTick > 0 && electionTick > heartbeatTick)) {
      throw new RaftInvariantError('config needs 0 < heartbeatTick < electionTick');
    }
    if (applied < snapshotIndex) {
      throw new RaftInvariantError(`applied ${applied} is below the snapshot index ${snapshotIndex}`);
    }
    this.raft = new Raft({
      id: config.id,
      storage: config.storage,
      electionTick,
      heartbeatTick,
      applied,
      maxSizePerMsg,
      maxCommittedSizePerReady: config.maxCommittedSizePerReady ?? maxSizePerMsg,
      maxInflightMsgs: Math.max(1, config.maxInflightMsgs ?? 256),
      maxUncommittedEntriesSize: config.maxUncommittedEntriesSize ?? Infinity,
      checkQuorum: config.checkQuorum ?? true,
      preVote: config.preVote ?? true,
      random: config.random,
      logger: config.logger,
    });
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
    this.durableTerm = this.prevHardState.term;
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (with a pre-vote if enabled). No-op on a leader or a non-voter. */
  campaign(): void {
    this.raft.hup();
  }

  /**
   * Proposes data for the log. On a follower the proposal is forwarded to the leader (it may
   * still be lost: the caller learns of success only by seeing the entry committed).
   * Throws ProposalDroppedError without a leader, during a leadership transfer, or past the
   * uncommitted-size limit.
   */
  propose(data: Uint8Array): void {
    this.proposeEntry(EntryType.Normal, data);
  }

  /** This member's role now (the Ready that reports a change may not have been handled yet). */
  get role(): Role {
    return this.raft.role;
  }

  /** This member's current term (as for role, perhaps ahead of the Ready being handled). */
  get term(): number {
    return this.raft.term;
  }

  /**
   * The highest committed index whose entry is already in stable storage as this log has it (not
   * about to be overwritten): the node may apply up to it from storage as soon as a message moves
   * the commit index, without waiting for the Ready of its next batch. Those entries then come
   * again in a Ready's committedEntries, where the node skips what it applied.
   */
  stableCommitted(): number {
    const log = this.raft.log;
    if (log.unstable.snapshot !== undefined) return 0; // storage is about to be replaced
    return Math.min(log.committed, log.unstable.offset - 1);
  }

  /**
   * Proposes several entries at once, in order: one append, and one MsgApp per follower for all
   * of them (proposing them one by one sends a message per entry per follower). All or none are
   * dropped.
   */
  proposeBatch(datas: readonly Uint8Array[]): void {
    if (datas.length === 0) return;
    const m = this.localMessage(MessageType.Prop, this.raft.id);
    m.entries = datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data }));
    this.raft.step(m);
  }

  /**
   * Proposes a membership change. The leader accepts one at a time: while an earlier one is not
   * applied it throws ProposalDroppedError('conf-change-pending'); one that does not fit the
   * configuration throws InvalidConfChangeError.
   */
  proposeConfChange(cc: ConfChange): void {
    this.proposeEntry(EntryType.ConfChange, encodeConfChange(cc));
  }

  private proposeEntry(type: EntryType, data: Uint8Array): void {
    const m = this.localMessage(MessageType.Prop, this.raft.id);
    m.entries = [{ term: 0, index: 0, type, data }];
    this.raft.step(m);
  }

  /**
   * Applies a committed conf change: call it when applying its entry (membership takes effect on
   * apply). Returns the new configuration, to keep with the state machine for snapshots.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Steps a message received from another member. Local-only message types and malformed terms
   * are ignored, as are answers from members outside the configuration.
   */
  step(m: Message): void {
    switch (m.type) {
      case MessageType.Hup:
      case MessageType.Beat:
      case MessageType.Unreachable:
      case MessageType.SnapStatus:
      case MessageType.CheckQuorum:
        return;
      case MessageType.AppResp:
      case MessageType.VoteResp:
      case MessageType.PreVoteResp:
      case MessageType.HeartbeatResp:
        if (!this.raft.tracker.isMember(m.from)) return;
    }
    // Only forwarded proposals and read requests travel without a term.
    if (m.term === 0 && m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) return;
    try {
      this.raft.step(m);
    } catch (error) {
      // A forwarded proposal dropped here is like one lost on the way: its origin retries.
      if (error instanceof ProposalDroppedError || error instanceof InvalidConfChangeError) return;
      throw error;
    }
  }

  /**
   * Takes out the leader's replication messages (MsgApp, MsgHeartbeat) queued since the last
   * ready(), to send at once while a Ready is still outstanding: entries proposed, and commit
   * indexes moved by acks, during this member's fsync then reach the followers without waiting for
   * it. A leader's appends do not depend on its own log being durable (Raft thesis 10.2.1: it may
   * replicate while it writes), so they are safe to send early; every other message keeps waiting
   * for its Ready. Empty unless this member leads, and while the Ready that carries its term is not
   * yet advanced (isTermDurable): a message of a term must not leave before the term is on disk.
   */
  takeLeaderReplication(): Message[] {
    const r = this.raft;
    if (r.msgs.length === 0) return [];
    r.markCommitOnly();
    const { early, afterWrite } = this.replicationFirst(r.msgs);
    r.msgs = afterWrite;
    return early;
  }

  /**
   * Splits the messages of the Ready just handed out: those a leader may send before that Ready's
   * write (its MsgApp and heartbeats, once its term is durable: Raft thesis 10.2.1), and the rest,
   * which leave after it.
   */
  replicationFirst(messages: Message[]): { early: Message[]; afterWrite: Message[] } {
    if (this.raft.role !== Role.Leader || !this.isTermDurable()) return { early: [], afterWrite: messages };
    const early: Message[] = [];
    const afterWrite: Message[] = [];
    for (const m of messages) (m.type === MessageType.App || m.type === MessageType.Heartbeat ? early : afterWrite).push(m);
    return { early, afterWrite };
  }

  /**
   * Whether this member's current term is on its disk (the Ready that carried it was advanced). A
   * leader may send its replication messages before its own entries are durable, never before its
   * term is: a single voter that elects itself hands out its new term and its first MsgApps to the
   * learners in one Ready, and if it crashed before persisting that term it could lead the same term
   * again with another log, which the learners would take for the same one.
   */
  isTermDurable(): boolean {
    return this.raft.term === this.durableTerm;
  }

  /**
   * While a Ready is outstanding (this member's log write runs), takes the entries committed since,
   * to apply at once, up to the last entry already handed to a Ready for persistence. Committed
   * means durable on a quorum: they need not wait for this member's own write (a leader whose
   * followers acked first, a follower told the commit index of entries it is still writing). The
   * next Ready does not hand them out again; advance() counts them applied. Empty when no Ready is
   * outstanding (ready() hands them out then).
   */
  takeCommittedEntries(): Entry[] {
    const outstanding = this.outstanding;
    if (outstanding === undefined) return [];
    const log = this.raft.log;
    const entries = log.nextCommittedEntries(log.lastHandedOut());
    if (entries.length === 0) return [];
    log.acceptApplying(entries[entries.length - 1]!.index);
    outstanding.taken.push(...entries);
    return entries;
  }

  /** Whether ready() has work. False while a Ready is outstanding (not yet advanced). */
  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.hasNextUnstable() || r.log.hasNextCommitted()) return true;
    if (r.lead !== this.prevSoftState.leader || r.role !== this.prevSoftState.role) return true;
    const p = this.prevHardState;
    return r.term !== p.term || r.vote !== p.vote || r.log.committed !== p.commit;
  }

  /**
   * The work to do now, in order: persist snapshot/entries/hardState (fsync when mustSync), then
   * send messages, then apply committedEntries, then advance(). One Ready at a time.
   */
  ready(): Ready {
    if (this.outstanding !== undefined) throw new RaftInvariantError('ready() called before advance() of the last Ready');
    const r = this.raft;
    const log = r.log;
    r.markCommitOnly();
    const rd: Ready = {
      entries: log.nextUnstableEntries(),
      committedEntries: log.nextCommittedEntries(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    const snapshot = log.nextUnstableSnapshot();
    if (snapshot !== undefined) rd.snapshot = snapshot;
    if (r.lead !== this.prevSoftState.leader || r.role !== this.prevSoftState.role) {
      this.prevSoftState = r.softState();
      rd.softState = this.prevSoftState;
    }
    const hs = r.hardState();
    const prev = this.prevHardState;
    if (hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    // Raft's persistent state: term, vote, log. A lost commit index is recovered from the leader.
    rd.mustSync = rd.entries.length > 0 || snapshot !== undefined || hs.term !== prev.term || hs.vote !== prev.vote;

    r.msgs = [];
    r.readStates = [];
    log.unstable.acceptInProgress();
    const committed = rd.committedEntries;
    if (committed.length > 0) log.acceptApplying(committed[committed.length - 1]!.index);
    this.outstanding = { ackTerm: r.term, ackIndex: r.unackedSelfIndex, taken: [] };
    r.unackedSelfIndex = 0;
    return rd;
  }

  /** Acknowledges that the last Ready was fully handled (persisted, sent, applied). */
  advance(rd: Ready): void {
    const outstanding = this.outstanding;
    if (outstanding === undefined) throw new RaftInvariantError('advance() without an outstanding Ready');
    this.outstanding = undefined;
    const r = this.raft;
    if (rd.hardState !== undefined) this.durableTerm = rd.hardState.term;
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.index);
      // The node restored its state machine from the snapshot.
      r.log.appliedTo(rd.snapshot.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.log.stableTo(last.index, last.term);
    }
    for (const applied of [rd.committedEntries, outstanding.taken]) {
      if (applied.length === 0) continue;
      r.log.appliedTo(applied[applied.length - 1]!.index);
      r.reduceUncommittedSize(applied);
    }
    if (outstanding.ackIndex > 0) r.ackSelf(outstanding.ackTerm, outstanding.ackIndex);
    r.campaignIfTransferPending();
  }

  /** Asks the leader to hand leadership to `transferee` (forwarded when called on a follower). */
  transferLeadership(transferee: MemberId): void {
    const m = this.localMessage(MessageType.TransferLeader, transferee);
    this.raft.step(m);
  }

  /**
   * Requests a linearizable read point. Some later Ready carries ReadState{index, context}: the
   * read may be served once applied >= index. The request is lost (the caller times out) if
   * leadership changes meanwhile. Throws ProposalDroppedError when no leader is known.
   */
  readIndex(context: Uint8Array): void {
    const m = this.localMessage(MessageType.ReadIndex, this.raft.id);
    m.context = context;
    this.raft.step(m);
  }

  /** The transport failed to deliver to `id`: replication to it falls back to probing. */
  reportUnreachable(id: MemberId): void {
    this.raft.step(this.localMessage(MessageType.Unreachable, id));
  }

  /** The connection from `id` closed: a follower whose leader it was campaigns early (Raft.leaderDisconnected). */
  reportDisconnected(id: MemberId): void {
    this.raft.leaderDisconnected(id);
  }

  /** The snapshot sent to `id` (a MsgSnap of an earlier Ready) was delivered (ok) or failed. */
  reportSnapshot(id: MemberId, ok: boolean): void {
    const m = this.localMessage(MessageType.SnapStatus, id);
    m.reject = !ok;
    this.raft.step(m);
  }

  status(): Status {
    const r = this.raft;
    let progress: Map<MemberId, ProgressStatus> | undefined;
    if (r.role === Role.Leader) {
      progress = new Map();
      for (const [id, pr] of r.tracker.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
        });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      leader: r.lead,
      role: r.role,
      conf: r.tracker.confState(),
      progress,
      leadTransferee: r.leadTransferee,
    };
  }

  private localMessage(type: MessageType, from: MemberId): Message {
    return newMessage(type, NONE, from, 0);
  }
}
