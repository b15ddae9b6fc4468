/**
 * The Raft state machine (after etcd-io/raft's raft.go): roles, elections with pre-vote and
 * check-quorum, replication, snapshots, leadership transfer, ReadIndex and membership.
 * Internal: the node layer drives it through RawNode only. Everything it wants done leaves
 * through `msgs`, `readStates` and the log's unstable part, collected into a Ready.
 */

import { decodeConfChange } from './confchange.js';
import { InvalidConfChangeError, ProposalDroppedError } from './errors.js';
import { ProgressState, type Progress } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue, decodeReadSeq, encodeReadSeq, type ReadRequest } from './read-only.js';
import type { Storage } from './storage.js';
import { ProgressTracker, VoteResult } from './tracker.js';
import {
  EntryType,
  MessageType,
  NONE,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type MemberId,
  type Message,
  type ReadState,
  type SnapshotMeta,
  type SoftState,
} from './types.js';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export interface RaftOptions {
  id: MemberId;
  storage: Storage;
  electionTick: number;
  heartbeatTick: number;
  applied: number;
  maxSizePerMsg: number;
  maxCommittedSizePerReady: number;
  maxInflightMsgs: number;
  maxUncommittedEntriesSize: number;
  checkQuorum: boolean;
  preVote: boolean;
  random: () => number;
  logger: Logger | undefined;
}

enum Campaign {
  PreElection,
  Election,
  /** On MsgTimeoutNow: no pre-vote, and voters ignore their leader lease. */
  Transfer,
}

/** Context of a MsgVote sent for a leadership transfer: it must not be refused for a lease. */
const CAMPAIGN_TRANSFER = Uint8Array.of(1);
const EMPTY_CONTEXT = new Uint8Array(0);

export function newMessage(type: MessageType, to: MemberId, from: MemberId, term: number): Message {
  return {
    type,
    to,
    from,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: undefined,
    commitOnly: false,
  };
}

export class Raft {
  readonly id: MemberId;
  term = 0;
  vote: MemberId = NONE;
  lead: MemberId = NONE;
  role = Role.Follower;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** Outgoing messages, collected by the next Ready. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /**
   * Last index this leader appended since the last Ready. The leader counts its own entries
   * toward commit only once the Ready that persists them is advanced (see RawNode.advance).
   */
  unackedSelfIndex = 0;
  leadTransferee: MemberId = NONE;
  /**
   * Term of a MsgTimeoutNow that arrived while committed conf changes were unapplied: the
   * campaign it asks for waits for them (see campaignIfTransferPending), or 0.
   */
  private transferPendingTerm = 0;
  /** Index of the latest conf change the leader proposed; no other until it is applied. */
  private pendingConfIndex = 0;
  private uncommittedSize = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** this follower lost its connection from the leader: not in its lease any more (leaderDisconnected) */
  private leaderSuspect = false;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly maxMsgSize: number;
  private readonly maxUncommittedSize: number;
  private readonly random: () => number;
  private readonly logger: Logger | undefined;
  private readonly readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndex: Message[] = [];

  constructor(options: RaftOptions) {
    this.id = options.id;
    this.electionTimeout = options.electionTick;
    this.heartbeatTimeout = options.heartbeatTick;
    this.checkQuorum = options.checkQuorum;
    this.preVote = options.preVote;
    this.maxMsgSize = options.maxSizePerMsg;
    this.maxUncommittedSize = options.maxUncommittedEntriesSize;
    this.random = options.random;
    this.logger = options.logger;
    this.log = new RaftLog(options.storage, options.maxCommittedSizePerReady);
    this.tracker = new ProgressTracker(options.maxInflightMsgs);

    const { hardState, confState } = options.storage.initialState();
    this.tracker.restore(confState, this.log.lastIndex() + 1);
    this.term = hardState.term;
    this.vote = hardState.vote;
    // An applied entry is committed even if the commit index that said so was never synced.
    this.log.commitTo(Math.max(hardState.commit, options.applied));
    if (options.applied > 0) this.log.appliedTo(options.applied);
    this.replayConfChanges(options.storage.snapshot().index, options.applied);
    this.becomeFollower(this.term, NONE);
  }

  /**
   * The storage's ConfState is the snapshot's: conf changes applied after it (up to `applied`)
   * will not be handed out again, so they are replayed here.
   */
  private replayConfChanges(snapshotIndex: number, applied: number): void {
    for (let lo = snapshotIndex + 1; lo <= applied; ) {
      const ents = this.log.slice(lo, applied + 1, this.maxMsgSize);
      for (const e of ents) if (e.type === EntryType.ConfChange) this.tracker.apply(decodeConfChange(e.data), lo);
      lo += ents.length;
    }
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private info(message: string): void {
    this.logger?.info(`raft ${this.id} [term ${this.term}] ${message}`);
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private reply(type: MessageType, to: MemberId): Message {
    const m = newMessage(type, to, this.id, this.term);
    this.msgs.push(m);
    return m;
  }

  // ------------------------------------------------------------------ roles

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.leaderSuspect = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      pr.reset(last + 1);
      if (id === this.id) pr.match = last;
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReadIndex = [];
    this.unackedSelfIndex = 0;
    this.transferPendingTerm = 0;
  }

  becomeFollower(term: number, lead: MemberId): void {
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    // Neither the term nor the vote change: a pre-vote that fails leaves no trace.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.tracker.progress.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // A conf change may hide in the uncommitted tail; scanning it is costly, so wait for all of it.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op lets this leader commit (only entries of its own term commit by counting).
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.info(`became leader`);
  }

  /** Can campaign: a voter, not in the middle of installing a snapshot. */
  private promotable(): boolean {
    return this.tracker.isVoter(this.id) && !this.log.hasPendingSnapshot();
  }

  // ------------------------------------------------------------------ time

  tick(): void {
    if (this.role === Role.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      // An early campaign (leaderDisconnected) happens once; a failed one retries at the usual pace.
      if (this.leaderSuspect) this.resetRandomizedElectionTimeout();
      this.hup();
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.stepDownWithoutQuorum();
      if (this.role === Role.Leader && this.leadTransferee !== NONE) {
        this.info(`aborts the leadership transfer to ${this.leadTransferee}: timed out`);
        this.leadTransferee = NONE;
      }
    }
    if (this.role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(undefined);
    }
  }

  private stepDownWithoutQuorum(): void {
    const active = this.tracker.hasQuorum((id) => id === this.id || this.tracker.progress.get(id)!.recentActive);
    if (!active) {
      this.logger?.warn(`raft ${this.id} [term ${this.term}] steps down: no quorum heard from in an election timeout`);
      this.becomeFollower(this.term, NONE);
      return;
    }
    for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
  }

  /**
   * The transport saw the connection from `id` close. If `id` is this follower's leader (a process
   * that dies has its connections closed by the kernel at once), the follower stops counting on
   * it: it leaves the leader's lease, so it grants the pre-votes of the others that saw the same
   * (it still names the leader, and forwards to it, until a campaign succeeds), and campaigns after 1 to electionTimeout/2 random ticks instead of a whole randomized election
   * timeout. Safety never rests on this: a connection that broke while the leader lives costs
   * nothing, since the members still in its lease ignore the pre-vote (no term changes) and its
   * next heartbeat makes it this member's leader again.
   */
  leaderDisconnected(id: MemberId): void {
    if (this.role !== Role.Follower || this.lead === NONE || this.lead !== id || this.leaderSuspect) return;
    this.info(`lost the connection from leader ${id}: campaigning early unless it comes back`);
    this.leaderSuspect = true;
    const jitter = 1 + Math.floor(this.random() * Math.max(1, Math.floor(this.electionTimeout / 2)));
    this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, this.electionElapsed + jitter);
  }

  // ------------------------------------------------------------------ elections

  /** Starts an election now (MsgHup), with a pre-vote if enabled. */
  hup(): void {
    this.maybeCampaign(this.preVote ? Campaign.PreElection : Campaign.Election);
  }

  /** Starts a campaign unless this member cannot or should not. */
  private maybeCampaign(type: Campaign): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // Votes are counted in the applied configuration: one that lags a committed conf change
    // could be two changes behind the cluster, and its majorities need not overlap the current.
    if (this.hasUnappliedConfChanges()) {
      this.info(`cannot campaign yet: committed conf changes are not applied`);
      if (type === Campaign.Transfer) this.transferPendingTerm = this.term;
      return;
    }
    this.campaign(type);
  }

  /** After an apply: runs the campaign a MsgTimeoutNow asked for, if still in its term. */
  campaignIfTransferPending(): void {
    if (this.transferPendingTerm === 0 || this.transferPendingTerm !== this.term || this.role !== Role.Follower) return;
    if (this.hasUnappliedConfChanges()) return;
    this.transferPendingTerm = 0;
    this.maybeCampaign(Campaign.Transfer);
  }

  private hasUnappliedConfChanges(): boolean {
    // A snapshot being installed brings its own configuration: wait for it.
    if (this.log.hasPendingSnapshot()) return true;
    const hi = this.log.committed + 1;
    for (let lo = this.log.applied + 1; lo < hi; ) {
      const ents = this.log.slice(lo, hi, this.maxMsgSize);
      for (const e of ents) if (e.type === EntryType.ConfChange) return true;
      lo += ents.length;
    }
    return false;
  }

  private campaign(type: Campaign): void {
    let voteType: MessageType;
    let term: number;
    if (type === Campaign.PreElection) {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      // A pre-vote asks for the next term without taking it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    // The self-vote is durable before anyone hears of this campaign: messages leave after the
    // Ready that persists the HardState.
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes() === VoteResult.Won) {
      if (type === Campaign.PreElection) this.campaign(Campaign.Election);
      else this.becomeLeader();
      return;
    }
    this.info(`starts ${type === Campaign.PreElection ? 'a pre-vote' : 'an election'} for term ${term}`);
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      const m = newMessage(voteType, id, this.id, term);
      m.index = lastIndex;
      m.logTerm = lastTerm;
      if (type === Campaign.Transfer) m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  private handleVote(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // Learners vote too: one may have been promoted without having applied it yet.
      this.send(newMessage(respType, m.from, this.id, m.term));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.rejectVote(respType, m.from);
    }
  }

  private rejectVote(respType: MessageType, to: MemberId): void {
    const r = this.reply(respType, to);
    r.reject = true;
    // Our commit index, so a candidate stuck on a committed but unknown conf change (it may need
    // our vote only because it has not applied our removal, say) can learn it and move on.
    r.commit = this.log.committed;
    r.logTerm = Math.max(0, this.log.term(this.log.committed));
  }

  // ------------------------------------------------------------------ step

  step(m: Message): void {
    if (m.term === 0) {
      // A local input (RawNode), or a proposal / read request forwarded by a follower.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context !== undefined && m.context.length === 1 && m.context[0] === CAMPAIGN_TRANSFER[0];
        const inLease = this.checkQuorum && this.lead !== NONE && !this.leaderSuspect && this.electionElapsed < this.electionTimeout;
        // Within the lease of a live leader, an election is a disruption (a member rejoining
        // from a partition, or a removed one): ignore it, without even taking its term.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && !m.reject)) {
        // A pre-vote never changes terms; a granted pre-vote answer carries our own future term.
      } else {
        const fromLeader = m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader, or a member whose term we outran while it was cut off: our term in the
        // answer makes it step down, since our votes would ignore its campaigns.
        this.reply(MessageType.AppResp, m.from);
      } else if (m.type === MessageType.PreVote) {
        // Answer, so a pre-candidate with a stale term learns ours rather than waiting forever.
        this.rejectVote(MessageType.PreVoteResp, m.from);
      }
      return;
    }

    if ((m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp) && m.reject) {
      // The voter's commit index: safe to adopt where our log holds the same entry there.
      if (m.commit > this.log.committed && this.log.matchTerm(m.commit, m.logTerm)) this.log.commitTo(m.commit);
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVote(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        return;
      case Role.Follower:
        this.stepFollower(m);
        return;
      default:
        this.stepCandidate(m);
    }
  }

  private heardFromLeader(from: MemberId): void {
    this.electionElapsed = 0;
    this.lead = from;
    if (this.leaderSuspect) {
      this.leaderSuspect = false;
      this.resetRandomizedElectionTimeout();
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.ReadIndex:
        if (this.lead === NONE) throw new ProposalDroppedError('no-leader');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.heardFromLeader(m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: this.term });
        return;
      case MessageType.TimeoutNow:
        // Transfers skip the pre-vote: this is no partitioned member's comeback.
        this.info(`campaigns at once on MsgTimeoutNow from ${m.from}`);
        this.maybeCampaign(Campaign.Transfer);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context ?? EMPTY_CONTEXT });
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.ReadIndex:
        throw new ProposalDroppedError('no-leader');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp:
        this.tracker.recordVote(m.from, !m.reject);
        switch (this.tracker.tallyVotes()) {
          case VoteResult.Won:
            if (this.role === Role.PreCandidate) {
              this.campaign(Campaign.Election);
            } else {
              this.becomeLeader();
              this.bcastAppend();
            }
            return;
          case VoteResult.Lost:
            // A pre-vote answer carries our future term: stay at ours.
            this.becomeFollower(this.term, NONE);
            return;
          case VoteResult.Pending:
            return;
        }
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (m.entries.length > 0) this.proposeAsLeader(m.entries);
        return;
      case MessageType.ReadIndex:
        if (!this.committedEntryInCurrentTerm()) {
          // The commit index may lag what earlier leaders committed until our no-op commits.
          this.pendingReadIndex.push(m);
          return;
        }
        this.serveReadIndex(m);
        return;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        // On failure, probe from what the member has, not from the snapshot it never got.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the member's answer (or a heartbeat's) before sending again.
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.Unreachable:
        // Optimistic replication has probably lost a MsgApp: find the match again.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.startLeaderTransfer(m.from, pr);
        return;
    }
  }

  // ------------------------------------------------------------------ leader: proposals

  private proposeAsLeader(entries: readonly Entry[]): void {
    if (!this.tracker.isMember(this.id)) throw new ProposalDroppedError('not-a-member');
    if (this.leadTransferee !== NONE) throw new ProposalDroppedError('leadership-transfer');
    let confIndex = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      if (confIndex > 0 || this.pendingConfIndex > this.log.applied) {
        throw new ProposalDroppedError('conf-change-pending');
      }
      const problem = this.tracker.validate(decodeConfChange(e.data));
      if (problem !== undefined) throw new InvalidConfChangeError(problem);
      confIndex = this.log.lastIndex() + i + 1;
    }
    if (!this.appendEntries(entries)) throw new ProposalDroppedError('uncommitted-limit');
    if (confIndex > 0) this.pendingConfIndex = confIndex;
    this.bcastAppend();
  }

  /** Appends entries in this term; false (and nothing appended) past the uncommitted-size limit. */
  private appendEntries(entries: readonly Entry[]): boolean {
    let size = 0;
    for (const e of entries) size += e.data.byteLength;
    // An empty tail admits any proposal, and the empty no-op always passes.
    if (this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > this.maxUncommittedSize) return false;
    this.uncommittedSize += size;
    const last = this.log.lastIndex();
    const owned: Entry[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      owned[i] = { term: this.term, index: last + 1 + i, type: e.type, data: e.data };
    }
    this.unackedSelfIndex = this.log.append(owned);
    return true;
  }

  reduceUncommittedSize(applied: readonly Entry[]): void {
    let size = 0;
    for (const e of applied) size += e.data.byteLength;
    // The count may under-estimate (it restarts at 0 each term), never over-estimate.
    this.uncommittedSize = Math.max(0, this.uncommittedSize - size);
  }

  /** The leader's own entries up to `index` are durable (the Ready holding them was advanced). */
  ackSelf(term: number, index: number): void {
    if (this.role !== Role.Leader || term !== this.term) return;
    const pr = this.tracker.progress.get(this.id);
    if (pr !== undefined && pr.maybeUpdate(index) && this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    }
  }

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ------------------------------------------------------------------ leader: replication

  private bcastAppend(): void {
    for (const id of this.tracker.voters) if (id !== this.id) this.maybeSendAppend(id, true);
    for (const id of this.tracker.learners) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  private sendAppend(to: MemberId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the member the entries it misses (or a snapshot when they are compacted away), within
   * flow control. Without new entries it sends only if sendIfEmpty (to carry the commit index).
   */
  private maybeSendAppend(to: MemberId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm < 0) return this.maybeSendSnapshot(to, pr);
    let entries: Entry[] = [];
    const inflightFull = pr.state === ProgressState.Replicate && pr.inflights.full();
    if (!inflightFull && pr.next <= this.log.lastIndex()) entries = this.log.entriesFrom(pr.next, this.maxMsgSize);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = newMessage(MessageType.App, to, this.id, this.term);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = this.log.committed;
    this.send(m);
    pr.sentEntries(entries.length);
    pr.sentCommit = this.log.committed;
    return true;
  }

  /**
   * Marks the queued MsgApps that only carry the commit index to a member known to hold their
   * index already (Replicate, match at or past it, counting acks stepped after they were queued):
   * the member does not answer those, as its answer would tell nothing new: a quarter of the
   * messages of a write on a quiet cluster (an answer per follower to each commit index). Called
   * as the messages leave (RawNode.ready, takeLeaderReplication).
   */
  markCommitOnly(): void {
    if (this.role !== Role.Leader) return;
    for (const m of this.msgs) {
      if (m.type !== MessageType.App || m.entries.length > 0) continue;
      const pr = this.tracker.progress.get(m.to);
      if (pr !== undefined && pr.state === ProgressState.Replicate && pr.match >= m.index) m.commitOnly = true;
    }
  }

  private maybeSendSnapshot(to: MemberId, pr: Progress): boolean {
    // A member not heard from lately would most likely not get it either.
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    this.info(`sends snapshot at ${snapshot.index} (term ${snapshot.term}) to ${to}, whose next entry is compacted`);
    pr.becomeSnapshot(snapshot.index);
    const m = newMessage(MessageType.Snap, to, this.id, this.term);
    m.snapshot = snapshot;
    this.send(m);
    return true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.index > this.log.lastIndex()) return;
    if (m.reject) {
      if (m.index === 0 && pr.state === ProgressState.Probe && pr.next === 1) {
        // Even index 0 does not match: an uninitialized joiner, which needs a snapshot.
        this.maybeSendSnapshot(m.from, pr);
        return;
      }
      // Skip the member's whole diverging tail at once: the largest index where our term is <=
      // the term it has at its hint is where the logs can first match.
      const probe = m.logTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.logTerm).index : m.rejectHint;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    // A probe answered at match moves to replicate; so does a snapshot that brought nothing past
    // match (the founding snapshot at index 0, sent to a joiner).
    const confirmed =
      pr.match === m.index &&
      (pr.state === ProgressState.Probe || (pr.state === ProgressState.Snapshot && pr.pendingSnapshot <= m.index));
    if (!updated && !confirmed) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
      // Caught up by the snapshot (or otherwise): the log can take it from here.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    } else if (pr.canBumpCommit(this.log.committed)) {
      this.sendAppend(m.from);
    }
    // The window may have opened for several messages.
    while (this.maybeSendAppend(m.from, false));
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.info(`sends MsgTimeoutNow to ${m.from}: it caught up`);
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // Also un-sticks a full window whose messages were all lost.
    if (pr.match < this.log.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
    const seq = decodeReadSeq(m.context);
    if (seq === 0) return;
    this.readOnly.recvAck(m.from, seq);
    for (const read of this.readOnly.release((acks) => this.tracker.hasQuorum((id) => acks.has(id)))) {
      this.respondToReadIndex(read.request, read.index);
    }
  }

  private bcastHeartbeat(context: Uint8Array | undefined): void {
    const seq = this.readOnly.lastSeq();
    // Plain heartbeats repeat the newest read's context, in case its own heartbeats were lost.
    const ctx = context ?? (seq > 0 ? encodeReadSeq(seq) : undefined);
    for (const id of this.tracker.voters) if (id !== this.id) this.sendHeartbeat(id, ctx);
    for (const id of this.tracker.learners) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  private sendHeartbeat(to: MemberId, context: Uint8Array | undefined): void {
    const pr = this.tracker.progress.get(to)!;
    // Never past what the member is known to have: its log may still diverge beyond.
    const commit = Math.min(pr.match, this.log.committed);
    const m = newMessage(MessageType.Heartbeat, to, this.id, this.term);
    m.commit = commit;
    m.context = context;
    this.send(m);
    pr.sentCommit = commit;
  }

  private sendTimeoutNow(to: MemberId): void {
    this.send(newMessage(MessageType.TimeoutNow, to, this.id, this.term));
  }

  private startLeaderTransfer(transferee: MemberId, pr: Progress): void {
    if (pr.isLearner || transferee === this.id) return;
    if (this.leadTransferee === transferee) return;
    this.info(`starts transferring leadership to ${transferee}`);
    // A transfer must finish within an election timeout, or it is aborted.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  // ------------------------------------------------------------------ leader: reads

  private serveReadIndex(m: Message): void {
    const request: ReadRequest = { from: m.from, context: m.context ?? EMPTY_CONTEXT };
    if (this.tracker.voters.length === 1 && this.tracker.voters[0] === this.id) {
      this.respondToReadIndex(request, this.log.committed);
      return;
    }
    const seq = this.readOnly.add(this.log.committed, request, this.id);
    this.bcastHeartbeat(encodeReadSeq(seq));
  }

  private releasePendingReadIndex(): void {
    if (this.pendingReadIndex.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.serveReadIndex(m);
  }

  private respondToReadIndex(request: ReadRequest, index: number): void {
    if (request.from === NONE || request.from === this.id) {
      this.readStates.push({ index, context: request.context });
      return;
    }
    const m = this.reply(MessageType.ReadIndexResp, request.from);
    m.index = index;
    m.context = request.context;
  }

  // ------------------------------------------------------------------ follower

  /**
   * A member that joined with an empty configuration and an empty log. It cannot accept entries:
   * they build on the state at index 0 (the founding configuration), which it does not have.
   */
  private isUninitialized(): boolean {
    return this.tracker.progress.size === 0 && this.log.lastIndex() === 0 && !this.log.hasPendingSnapshot();
  }

  private handleAppendEntries(m: Message): void {
    if (this.isUninitialized()) {
      // Rejecting index 0 asks the leader for its snapshot.
      const r = this.reply(MessageType.AppResp, m.from);
      r.index = m.index;
      r.reject = true;
      return;
    }
    if (m.index < this.log.committed) {
      this.reply(MessageType.AppResp, m.from).index = this.log.committed;
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew >= 0) {
      if (!(m.commitOnly && m.entries.length === 0)) this.reply(MessageType.AppResp, m.from).index = lastNew;
      return;
    }
    // Hint where our logs may match: our largest index <= m.index whose term is <= m.logTerm.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    const r = this.reply(MessageType.AppResp, m.from);
    r.index = m.index;
    r.reject = true;
    r.rejectHint = hint.index;
    r.logTerm = hint.term;
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.reply(MessageType.HeartbeatResp, m.from).context = m.context;
  }

  private handleSnapshot(m: Message): void {
    if (m.snapshot === undefined) return;
    const restored = this.restore(m.snapshot);
    this.reply(MessageType.AppResp, m.from).index = restored ? this.log.lastIndex() : this.log.committed;
  }

  /** Installs a snapshot from the leader; false if it brings nothing new. */
  private restore(s: SnapshotMeta): boolean {
    if (s.index === 0 && this.isUninitialized()) {
      // A joiner takes even the founding snapshot: it brings the configuration at index 0.
      return this.install(s);
    }
    if (s.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.index, s.term)) {
      // We have the entry already: fast-forward the commit index instead.
      this.log.commitTo(s.index);
      return false;
    }
    // Unlike etcd-io/raft, a snapshot whose configuration lacks this member is installed: a
    // learner that just joined learns of its own addition from the entries after the snapshot.
    return this.install(s);
  }

  private install(s: SnapshotMeta): boolean {
    this.info(`restores snapshot at ${s.index} (term ${s.term})`);
    this.log.restore(s);
    this.tracker.restore(s.conf, this.log.lastIndex() + 1);
    return true;
  }

  // ------------------------------------------------------------------ membership

  /** Applies a committed conf change (on apply, as etcd-io/raft), returning the new ConfState. */
  applyConfChange(cc: ConfChange): ConfState {
    if (this.tracker.apply(cc, this.log.lastIndex() + 1)) this.info(`applied conf change ${describe(cc)}`);
    const conf = this.tracker.confState();
    if (this.role !== Role.Leader) {
      // A campaign for a configuration we are no longer a voter of must not win.
      if (this.role !== Role.Follower && !this.tracker.isVoter(this.id)) this.becomeFollower(this.term, NONE);
      return conf;
    }
    if (!this.tracker.isVoter(this.id)) {
      this.stepDownOnRemoval();
      return conf;
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    } else {
      for (const id of this.tracker.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
    return conf;
  }

  /**
   * The leader applied its own removal: rather than leave the others to an election timeout, it
   * tells the most up-to-date voter to campaign at once, then steps down. Being out of the
   * configuration, it never campaigns again.
   */
  private stepDownOnRemoval(): void {
    let best = NONE;
    let bestMatch = -1;
    for (const id of this.tracker.voters) {
      const match = this.tracker.progress.get(id)!.match;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    if (best !== NONE && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
    this.info(`steps down: removed from the configuration`);
    this.becomeFollower(this.term, NONE);
  }
}

function describe(cc: ConfChange): string {
  const kind = ['add-learner', 'promote', 'remove'][cc.type] ?? 'unknown';
  return `${kind} ${cc.memberId}`;
}
