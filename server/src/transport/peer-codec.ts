/**
 * The peer batch (conclave.raft.v1.PeerBatch) in protobuf's wire format, encoded from and decoded
 * to the Raft core's own types by hand. Every Raft message between members goes through here, and
 * protobufjs's generic path (fromObject, the Writer's operation list, decode, toObject, then
 * fromWire) left about 9 KB of garbage per message sent and received and cost 3.2 µs (a batch of
 * one MsgApp, measured in a loop): the members ran a scavenge every ~200 ms at one write in flight,
 * and each one delays the write it meets. The bytes are the same protocol: any protobuf decoder
 * reads what this writes (default values are left out, as proto3 does), and this reads what any
 * protobuf encoder writes (fields in any order, packed or not, unknown fields skipped). Malformed
 * input is a PeerDecodeError; nothing read from a peer is trusted.
 * The rare parts (a rejection's Error) go through protobufjs.
 */
import { codec } from '@conclave/proto';
import { StringCache, WireReader, WireType, WireWriter, delimitedFieldSize, packedSize, varintFieldSize } from '@conclave/proto/wire';
import type { Error as WireError, Error__Output as WireErrorOutput } from '@conclave/proto/gen/conclave/v1/Error.js';
import type { ErrorCode } from '../errors.js';
import { EntryType, MessageType, type Entry, type Message, type SnapshotMeta } from '../raft/types.js';
import type { ForwardRejection, ForwardedTxn } from './transport.js';

export interface PeerBatchData {
  clusterId: string;
  from: number;
  to: number;
  /** the sender's peer address (see the .proto) */
  fromAddress: string;
  /** the sender's clock (ms) when it asks for an echo, else 0 */
  pingMs: number;
  messages: Message[];
  touchedSessions: number[];
  forwards: ForwardedTxn[];
  rejections: ForwardRejection[];
}

export interface DecodedPeerBatch extends PeerBatchData {
  /** Raft messages of a type this member does not know (dropped: Raft retries what matters) */
  unknownMessages: number;
}

export class PeerDecodeError extends Error {
  constructor(message: string) {
    super(`malformed peer batch: ${message}`);
    this.name = 'PeerDecodeError';
  }
}

const errorCodec = codec<WireError, WireErrorOutput>('conclave.v1.Error');

const MAX_MESSAGE_TYPE = MessageType.PreVoteResp;
const EMPTY = new Uint8Array(0);

// ------------------------------------------------------------------------------------ encoding

const packedFieldSize = (values: readonly number[]) => (values.length === 0 ? 0 : delimitedFieldSize(packedSize(values)));

function entrySize(e: Entry): number {
  return varintFieldSize(e.term) + varintFieldSize(e.index) + varintFieldSize(e.type) + (e.data.length > 0 ? delimitedFieldSize(e.data.length) : 0);
}

const confSize = (meta: SnapshotMeta) => packedFieldSize(meta.conf.voters) + packedFieldSize(meta.conf.learners);
const metaSize = (meta: SnapshotMeta) => varintFieldSize(meta.index) + varintFieldSize(meta.term) + delimitedFieldSize(confSize(meta));

function messageSize(m: Message): number {
  let size =
    varintFieldSize(m.type) +
    varintFieldSize(m.to) +
    varintFieldSize(m.from) +
    varintFieldSize(m.term) +
    varintFieldSize(m.logTerm) +
    varintFieldSize(m.index) +
    varintFieldSize(m.commit) +
    (m.reject ? 2 : 0) +
    varintFieldSize(m.rejectHint) +
    (m.commitOnly ? 2 : 0);
  for (const e of m.entries) size += delimitedFieldSize(entrySize(e));
  if (m.snapshot) size += delimitedFieldSize(metaSize(m.snapshot));
  if (m.context && m.context.length > 0) size += delimitedFieldSize(m.context.length);
  return size;
}

function writeMessage(out: WireWriter, m: Message): void {
  out.varint(1, m.type);
  out.varint(2, m.to);
  out.varint(3, m.from);
  out.varint(4, m.term);
  out.varint(5, m.logTerm);
  out.varint(6, m.index);
  for (const e of m.entries) {
    out.header(7, entrySize(e));
    out.varint(1, e.term);
    out.varint(2, e.index);
    out.varint(3, e.type);
    if (e.data.length > 0) out.gatheredBytes(4, e.data);
  }
  out.varint(8, m.commit);
  if (m.snapshot) {
    const meta = m.snapshot;
    out.header(9, metaSize(meta));
    out.varint(1, meta.index);
    out.varint(2, meta.term);
    out.header(3, confSize(meta));
    out.packed(1, meta.conf.voters);
    out.packed(2, meta.conf.learners);
  }
  out.bool(10, m.reject);
  out.varint(11, m.rejectHint);
  if (m.context) out.optionalBytes(12, m.context);
  out.bool(13, m.commitOnly);
}

/**
 * Encodes a batch for a writev, after `room` bytes left free at the start of the first piece (for a
 * frame header). Entry data and forwarded transactions of `gatherMin` bytes or more are not copied:
 * they are pieces of their own, between pieces of one buffer holding the rest (so a 100 KB write is
 * not copied once per follower). Without `gatherMin` the batch is one piece.
 */
export function encodePeerBatchPieces(batch: PeerBatchData, room: number, gatherMin = Infinity): Uint8Array[] {
  const clusterIdBytes = Buffer.byteLength(batch.clusterId);
  const addressBytes = Buffer.byteLength(batch.fromAddress);
  const messageSizes = batch.messages.map(messageSize);
  const forwardSizes = batch.forwards.map((f) => varintFieldSize(f.originSeq) + delimitedFieldSize(f.txn.length));
  const rejections = batch.rejections.map((r) => {
    const error = errorCodec.encode({ code: r.code, message: r.message, path: '', opIndex: -1 });
    return { error, size: varintFieldSize(r.originSeq) + delimitedFieldSize(error.length) };
  });
  let size =
    (clusterIdBytes > 0 ? delimitedFieldSize(clusterIdBytes) : 0) +
    varintFieldSize(batch.from) +
    varintFieldSize(batch.to) +
    packedFieldSize(batch.touchedSessions) +
    varintFieldSize(batch.pingMs) +
    (addressBytes > 0 ? delimitedFieldSize(addressBytes) : 0);
  for (const s of messageSizes) size += delimitedFieldSize(s);
  for (const s of forwardSizes) size += delimitedFieldSize(s);
  for (const r of rejections) size += delimitedFieldSize(r.size);

  let gathered = 0;
  if (gatherMin !== Infinity) {
    for (const m of batch.messages) for (const e of m.entries) if (e.data.length >= gatherMin) gathered += e.data.length;
    for (const f of batch.forwards) if (f.txn.length >= gatherMin) gathered += f.txn.length;
  }
  const out = new WireWriter(Buffer.allocUnsafe(room + size - gathered), gatherMin);
  out.at = room;
  out.string(1, batch.clusterId, clusterIdBytes);
  out.varint(2, batch.from);
  out.varint(3, batch.to);
  batch.messages.forEach((m, i) => {
    out.header(4, messageSizes[i]!);
    writeMessage(out, m);
  });
  out.packed(5, batch.touchedSessions);
  batch.forwards.forEach((f, i) => {
    out.header(6, forwardSizes[i]!);
    out.varint(1, f.originSeq);
    out.gatheredBytes(2, f.txn);
  });
  batch.rejections.forEach((r, i) => {
    out.header(7, rejections[i]!.size);
    out.varint(1, r.originSeq);
    out.bytes(2, rejections[i]!.error);
  });
  out.varint(8, batch.pingMs);
  out.string(9, batch.fromAddress, addressBytes);
  if (out.at !== room + size - gathered) throw new Error(`peer batch encoded to ${out.at - room + gathered} bytes, sized ${size}`); // a bug here, never input
  return out.finish();
}

// ------------------------------------------------------------------------------------ decoding

const malformed = (reason: string) => new PeerDecodeError(reason);

function readEntry(r: WireReader): Entry {
  const e: Entry = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY };
  while (!r.done) {
    const t = r.varint();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1:
        r.expect(wireType, WireType.Varint, 'entry.term');
        e.term = r.varint();
        break;
      case 2:
        r.expect(wireType, WireType.Varint, 'entry.index');
        e.index = r.varint();
        break;
      case 3: {
        r.expect(wireType, WireType.Varint, 'entry.type');
        const type = r.varint();
        if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw malformed(`entry type ${type}`);
        e.type = type;
        break;
      }
      case 4:
        r.expect(wireType, WireType.Bytes, 'entry.data');
        e.data = r.bytesView();
        break;
      default:
        r.skip(wireType);
    }
  }
  return e;
}

function readMeta(r: WireReader): SnapshotMeta {
  const meta: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };
  while (!r.done) {
    const t = r.varint();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1:
        r.expect(wireType, WireType.Varint, 'snapshot.index');
        meta.index = r.varint();
        break;
      case 2:
        r.expect(wireType, WireType.Varint, 'snapshot.term');
        meta.term = r.varint();
        break;
      case 3: {
        const c = r.message(wireType);
        while (!c.done) {
          const ct = c.varint();
          const field = ct >>> 3;
          if (field === 1) c.varints(ct & 7, meta.conf.voters, (v) => v.uint32());
          else if (field === 2) c.varints(ct & 7, meta.conf.learners, (v) => v.uint32());
          else c.skip(ct & 7);
        }
        break;
      }
      default:
        r.skip(wireType);
    }
  }
  return meta;
}

/** A Raft message, or undefined for a type this member does not know. */
function readMessage(r: WireReader): Message | undefined {
  const m: Message = { type: MessageType.Hup, to: 0, from: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, commitOnly: false };
  let known = true;
  while (!r.done) {
    const t = r.varint();
    const wireType = t & 7;
    const field = t >>> 3;
    if (field === 7) m.entries.push(readEntry(r.message(wireType)));
    else if (field === 9) m.snapshot = readMeta(r.message(wireType));
    else if (field === 12) {
      r.expect(wireType, WireType.Bytes, 'message.context');
      const context = r.bytesView();
      m.context = context.length > 0 ? context : undefined;
    } else if (field === 2 || field === 3) {
      r.expect(wireType, WireType.Varint, field === 2 ? 'message.to' : 'message.from');
      if (field === 2) m.to = r.uint32();
      else m.from = r.uint32();
    } else if (field >= 1 && field <= 13) {
      r.expect(wireType, WireType.Varint, `message field ${field}`);
      const value = r.varint();
      switch (field) {
        case 1:
          known = value >= 0 && value <= MAX_MESSAGE_TYPE;
          m.type = value;
          break;
        case 4:
          m.term = value;
          break;
        case 5:
          m.logTerm = value;
          break;
        case 6:
          m.index = value;
          break;
        case 8:
          m.commit = value;
          break;
        case 10:
          m.reject = value !== 0;
          break;
        case 11:
          m.rejectHint = value;
          break;
        case 13:
          m.commitOnly = value !== 0;
          break;
      }
    } else r.skip(wireType);
  }
  return known ? m : undefined;
}

function readForward(r: WireReader): ForwardedTxn {
  const f: ForwardedTxn = { originSeq: 0, txn: EMPTY };
  while (!r.done) {
    const t = r.varint();
    const wireType = t & 7;
    const field = t >>> 3;
    if (field === 1) {
      r.expect(wireType, WireType.Varint, 'forward.origin_seq');
      f.originSeq = r.varint();
    } else if (field === 2) {
      r.expect(wireType, WireType.Bytes, 'forward.txn');
      f.txn = r.bytesView();
    } else r.skip(wireType);
  }
  return f;
}

function readRejection(r: WireReader): ForwardRejection {
  const rejection: ForwardRejection = { originSeq: 0, code: 'UNAVAILABLE', message: '' };
  while (!r.done) {
    const t = r.varint();
    const wireType = t & 7;
    const field = t >>> 3;
    if (field === 1) {
      r.expect(wireType, WireType.Varint, 'rejection.origin_seq');
      rejection.originSeq = r.varint();
    } else if (field === 2) {
      r.expect(wireType, WireType.Bytes, 'rejection.error');
      const bytes = r.bytesView();
      let error: WireErrorOutput;
      try {
        error = errorCodec.decode(bytes);
      } catch (cause) {
        throw malformed(`rejection.error: ${(cause as Error).message}`);
      }
      rejection.code = (error.code || 'UNAVAILABLE') as ErrorCode;
      rejection.message = error.message;
    } else r.skip(wireType);
  }
  return rejection;
}

/** Decodes a batch; entry data, contexts and forwarded txns are views into `bytes`, not copies. */
/** Strings that repeat in every batch of a connection (decodePeerBatch reuses them). */
export class PeerBatchStrings {
  readonly clusterId = new StringCache();
  readonly fromAddress = new StringCache();
}

/** Decodes a batch; `strings` keeps the cluster id and the sender's address between batches of one connection. */
export function decodePeerBatch(bytes: Uint8Array, strings: PeerBatchStrings = new PeerBatchStrings()): DecodedPeerBatch {
  const batch: DecodedPeerBatch = {
    clusterId: '',
    from: 0,
    to: 0,
    fromAddress: '',
    pingMs: 0,
    messages: [],
    touchedSessions: [],
    forwards: [],
    rejections: [],
    unknownMessages: 0,
  };
  const r = new WireReader(bytes, 0, bytes.length, malformed);
  while (!r.done) {
    const t = r.varint();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1:
        r.expect(wireType, WireType.Bytes, 'cluster_id');
        batch.clusterId = r.cachedString(strings.clusterId);
        break;
      case 2:
        r.expect(wireType, WireType.Varint, 'from');
        batch.from = r.uint32();
        break;
      case 3:
        r.expect(wireType, WireType.Varint, 'to');
        batch.to = r.uint32();
        break;
      case 4: {
        const m = readMessage(r.message(wireType));
        if (m) batch.messages.push(m);
        else batch.unknownMessages++;
        break;
      }
      case 5:
        r.varints(wireType, batch.touchedSessions);
        break;
      case 6:
        batch.forwards.push(readForward(r.message(wireType)));
        break;
      case 7:
        batch.rejections.push(readRejection(r.message(wireType)));
        break;
      case 8:
        r.expect(wireType, WireType.Varint, 'ping_ms');
        batch.pingMs = r.varint();
        break;
      case 9:
        r.expect(wireType, WireType.Bytes, 'from_address');
        batch.fromAddress = r.cachedString(strings.fromAddress);
        break;
      default:
        r.skip(wireType);
    }
  }
  return batch;
}
