/** Raft core types <-> the protobufjs objects of conclave.raft.v1 messages, for the snapshot offer (peer batches: peer-codec.ts). */
import type { RaftMessage, RaftMessage__Output } from '@conclave/proto/gen/conclave/raft/v1/RaftMessage.js';
import type { Entry__Output } from '@conclave/proto/gen/conclave/raft/v1/Entry.js';
import type { SnapshotMeta__Output } from '@conclave/proto/gen/conclave/raft/v1/SnapshotMeta.js';
import { EntryType, MessageType, type Entry, type Message, type SnapshotMeta } from '../raft/types.js';

const MESSAGE_TYPES: Record<string, MessageType> = {
  MSG_HUP: MessageType.Hup,
  MSG_BEAT: MessageType.Beat,
  MSG_PROP: MessageType.Prop,
  MSG_APP: MessageType.App,
  MSG_APP_RESP: MessageType.AppResp,
  MSG_VOTE: MessageType.Vote,
  MSG_VOTE_RESP: MessageType.VoteResp,
  MSG_SNAP: MessageType.Snap,
  MSG_HEARTBEAT: MessageType.Heartbeat,
  MSG_HEARTBEAT_RESP: MessageType.HeartbeatResp,
  MSG_UNREACHABLE: MessageType.Unreachable,
  MSG_SNAP_STATUS: MessageType.SnapStatus,
  MSG_CHECK_QUORUM: MessageType.CheckQuorum,
  MSG_TRANSFER_LEADER: MessageType.TransferLeader,
  MSG_TIMEOUT_NOW: MessageType.TimeoutNow,
  MSG_READ_INDEX: MessageType.ReadIndex,
  MSG_READ_INDEX_RESP: MessageType.ReadIndexResp,
  MSG_PRE_VOTE: MessageType.PreVote,
  MSG_PRE_VOTE_RESP: MessageType.PreVoteResp,
};

/** Numeric enum values are accepted by the encoder as they are (the proto numbering matches). */
export function toWire(m: Message): RaftMessage {
  return {
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data as Buffer })),
    commit: m.commit,
    snapshot: m.snapshot ? { index: m.snapshot.index, term: m.snapshot.term, conf: m.snapshot.conf } : null,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: (m.context ?? new Uint8Array(0)) as Buffer,
    commitOnly: m.commitOnly,
  };
}

function entryFromWire(e: Entry__Output): Entry {
  return { term: e.term, index: e.index, type: e.type === 'ENTRY_CONF_CHANGE' ? EntryType.ConfChange : EntryType.Normal, data: e.data };
}

function metaFromWire(s: SnapshotMeta__Output): SnapshotMeta {
  return { index: s.index, term: s.term, conf: { voters: s.conf?.voters ?? [], learners: s.conf?.learners ?? [] } };
}

export function fromWire(m: RaftMessage__Output): Message {
  const type = MESSAGE_TYPES[m.type as string];
  if (type === undefined) throw new Error(`unknown raft message type ${String(m.type)}`);
  return {
    type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(entryFromWire),
    commit: m.commit,
    snapshot: m.snapshot ? metaFromWire(m.snapshot) : undefined,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context.length > 0 ? m.context : undefined,
    commitOnly: m.commitOnly,
  };
}
