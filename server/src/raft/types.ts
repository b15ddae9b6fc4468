/**
 * The data types of Conclave's pure Raft core (after etcd-io/raft's raftpb). Plain objects, no I/O:
 * the transport edge converts them to and from conclave.raft.v1 protobuf messages.
 *
 * Ids: member ids are small positive integers (myid: 1..255 in practice); 0 means "none".
 * Terms and indexes are non-negative integers below 2^53.
 */

export type MemberId = number;
export const NONE: MemberId = 0;

export enum EntryType {
  /** data is an encoded Txn; empty data is the leader's no-op at the start of its term */
  Normal = 0,
  /** data is an encoded ConfChange (see encodeConfChange / decodeConfChange) */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  vote: MemberId;
  commit: number;
}

export interface ConfState {
  voters: MemberId[];
  learners: MemberId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

export enum ConfChangeType {
  AddLearner = 0,
  Promote = 1,
  Remove = 2,
}

/** One membership change. Only one may be pending (proposed but not applied) at a time. */
export interface ConfChange {
  type: ConfChangeType;
  memberId: MemberId;
  /** opaque to the core: the member's addresses, carried to the state machine */
  context?: Uint8Array;
}

export enum MessageType {
  Hup = 0,
  Beat = 1,
  Prop = 2,
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  Snap = 7,
  Heartbeat = 8,
  HeartbeatResp = 9,
  Unreachable = 10,
  SnapStatus = 11,
  CheckQuorum = 12,
  TransferLeader = 13,
  TimeoutNow = 14,
  ReadIndex = 15,
  ReadIndexResp = 16,
  PreVote = 17,
  PreVoteResp = 18,
}

export interface Message {
  type: MessageType;
  to: MemberId;
  from: MemberId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  /** Snap: which snapshot; the node layer streams its data alongside */
  snapshot?: SnapshotMeta;
  reject: boolean;
  rejectHint: number;
  /** ReadIndex request context, echoed in ReadState; opaque bytes */
  context?: Uint8Array;
  /**
   * App: no entries, sent to a member whose match is `index` (the leader has its ack already): it
   * only tells the commit index, and the member does not answer unless its log does not match.
   */
  commitOnly: boolean;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile state reported in a Ready when it changed. */
export interface SoftState {
  leader: MemberId;
  role: Role;
}

/** The answer to a readIndex request: reads may be served once applied >= index. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

/**
 * Everything the core asks the outside world to do, in this order (the node's Ready loop):
 * 1. persist `snapshot` (if any), `entries` and `hardState` (if any), durably (fsync);
 * 2. only then send `messages` (persist before send);
 * 3. apply `committedEntries` to the state machine, in order (they are always already durable);
 * 4. call advance().
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  /** entries to append to stable storage; may overwrite (truncate) a conflicting suffix */
  entries: Entry[];
  /** a snapshot received from the leader, to persist and restore the state machine from */
  snapshot?: SnapshotMeta;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /** true when `hardState`/`entries`/`snapshot` must be fsynced before `messages` are sent */
  mustSync: boolean;
}
