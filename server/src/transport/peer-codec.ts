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

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;
const MAX_MESSAGE_TYPE = MessageType.PreVoteResp;

// ------------------------------------------------------------------------------------ encoding

const tag = (field: number, wireType: number) => (field << 3) | wireType;

/** Bytes of an unsigned varint; negative numbers are 64-bit two's complement: 10 bytes. */
function varintSize(value: number): number {
  if (value < 0) return 10;
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

const bytesFieldSize = (length: number) => 1 + varintSize(length) + length;
/** A varint field, left out when 0 (proto3's default). Every field number here is below 16: one tag byte. */
const varintFieldSize = (value: number) => (value === 0 ? 0 : 1 + varintSize(value));

class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(value: number): void {
    const buf = this.buf;
    if (value < 0) return this.negative(value);
    while (value >= 0x80) {
      buf[this.pos++] = (value & 0x7f) | 0x80; // & keeps the low 7 bits also above 2^32
      value = Math.floor(value / 128);
    }
    buf[this.pos++] = value;
  }

  /** A negative int64 as protobuf writes it: its 64-bit two's complement, in 10 bytes. */
  private negative(value: number): void {
    let lo = value % 0x1_0000_0000 >>> 0;
    let hi = Math.floor(value / 0x1_0000_0000) >>> 0;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = (lo >>> 7) | ((hi & 0x7f) << 25);
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo & 0x01;
  }

  varintField(field: number, value: number): void {
    if (value === 0) return;
    this.buf[this.pos++] = tag(field, VARINT);
    this.varint(value);
  }

  boolField(field: number, value: boolean): void {
    if (!value) return;
    this.buf[this.pos++] = tag(field, VARINT);
    this.buf[this.pos++] = 1;
  }

  bytesField(field: number, bytes: Uint8Array): void {
    this.buf[this.pos++] = tag(field, BYTES);
    this.varint(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  stringField(field: number, value: string, byteLength: number): void {
    if (byteLength === 0) return;
    this.buf[this.pos++] = tag(field, BYTES);
    this.varint(byteLength);
    this.pos += this.buf.write(value, this.pos, byteLength, 'utf8');
  }

  header(field: number, length: number): void {
    this.buf[this.pos++] = tag(field, BYTES);
    this.varint(length);
  }
}

function entrySize(e: Entry): number {
  return varintFieldSize(e.term) + varintFieldSize(e.index) + varintFieldSize(e.type) + (e.data.length > 0 ? bytesFieldSize(e.data.length) : 0);
}

function packedSize(values: readonly number[]): number {
  let size = 0;
  for (const v of values) size += varintSize(v);
  return size;
}

const packedFieldSize = (values: readonly number[]) => (values.length === 0 ? 0 : bytesFieldSize(packedSize(values)));

function confSize(meta: SnapshotMeta): number {
  return packedFieldSize(meta.conf.voters) + packedFieldSize(meta.conf.learners);
}

function metaSize(meta: SnapshotMeta): number {
  return varintFieldSize(meta.index) + varintFieldSize(meta.term) + bytesFieldSize(confSize(meta));
}

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
  for (const e of m.entries) size += bytesFieldSize(entrySize(e));
  if (m.snapshot) size += bytesFieldSize(metaSize(m.snapshot));
  if (m.context && m.context.length > 0) size += bytesFieldSize(m.context.length);
  return size;
}

function writePacked(out: Out, field: number, values: readonly number[]): void {
  if (values.length === 0) return;
  out.header(field, packedSize(values));
  for (const v of values) out.varint(v);
}

function writeMessage(out: Out, m: Message): void {
  out.varintField(1, m.type);
  out.varintField(2, m.to);
  out.varintField(3, m.from);
  out.varintField(4, m.term);
  out.varintField(5, m.logTerm);
  out.varintField(6, m.index);
  for (const e of m.entries) {
    out.header(7, entrySize(e));
    out.varintField(1, e.term);
    out.varintField(2, e.index);
    out.varintField(3, e.type);
    if (e.data.length > 0) out.bytesField(4, e.data);
  }
  out.varintField(8, m.commit);
  if (m.snapshot) {
    const meta = m.snapshot;
    out.header(9, metaSize(meta));
    out.varintField(1, meta.index);
    out.varintField(2, meta.term);
    out.header(3, confSize(meta));
    writePacked(out, 1, meta.conf.voters);
    writePacked(out, 2, meta.conf.learners);
  }
  out.boolField(10, m.reject);
  out.varintField(11, m.rejectHint);
  if (m.context && m.context.length > 0) out.bytesField(12, m.context);
  out.boolField(13, m.commitOnly);
}

/** Encodes a batch in one buffer of exactly its size. */
export function encodePeerBatch(batch: PeerBatchData): Buffer {
  const clusterIdBytes = Buffer.byteLength(batch.clusterId);
  const addressBytes = Buffer.byteLength(batch.fromAddress);
  const messageSizes = batch.messages.map(messageSize);
  const forwardSizes = batch.forwards.map((f) => varintFieldSize(f.originSeq) + bytesFieldSize(f.txn.length));
  const rejections = batch.rejections.map((r) => {
    const error = errorCodec.encode({ code: r.code, message: r.message, path: '', opIndex: -1 });
    return { error, size: varintFieldSize(r.originSeq) + bytesFieldSize(error.length) };
  });
  let size =
    (clusterIdBytes > 0 ? bytesFieldSize(clusterIdBytes) : 0) +
    varintFieldSize(batch.from) +
    varintFieldSize(batch.to) +
    packedFieldSize(batch.touchedSessions) +
    varintFieldSize(batch.pingMs) +
    (addressBytes > 0 ? bytesFieldSize(addressBytes) : 0);
  for (const s of messageSizes) size += bytesFieldSize(s);
  for (const s of forwardSizes) size += bytesFieldSize(s);
  for (const r of rejections) size += bytesFieldSize(r.size);

  const out = new Out(Buffer.allocUnsafe(size));
  out.stringField(1, batch.clusterId, clusterIdBytes);
  out.varintField(2, batch.from);
  out.varintField(3, batch.to);
  batch.messages.forEach((m, i) => {
    out.header(4, messageSizes[i]!);
    writeMessage(out, m);
  });
  writePacked(out, 5, batch.touchedSessions);
  batch.forwards.forEach((f, i) => {
    out.header(6, forwardSizes[i]!);
    out.varintField(1, f.originSeq);
    out.bytesField(2, f.txn);
  });
  batch.rejections.forEach((r, i) => {
    out.header(7, rejections[i]!.size);
    out.varintField(1, r.originSeq);
    out.bytesField(2, rejections[i]!.error);
  });
  out.varintField(8, batch.pingMs);
  out.stringField(9, batch.fromAddress, addressBytes);
  if (out.pos !== size) throw new Error(`peer batch encoded to ${out.pos} bytes, sized ${size}`); // a bug here, never input
  return out.buf;
}

// ------------------------------------------------------------------------------------ decoding

const EMPTY = new Uint8Array(0);

/**
 * Reads fields from the whole batch; a nested message is read up to its end (`until`), which
 * must then be exactly where its reading stopped.
 */
class In {
  pos = 0;
  /** the halves of the last varint read (unsigned 32-bit each) */
  private lo = 0;
  private hi = 0;

  constructor(readonly buf: Uint8Array) {}

  private halves(): void {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.buf.length) throw new PeerDecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new PeerDecodeError('varint longer than 10 bytes');
  }

  /** An unsigned varint of up to 64 bits as a number (exact up to 2^53, as protobufjs without Long). */
  varint(): number {
    this.halves();
    return this.hi * 0x1_0000_0000 + this.lo;
  }

  /** An int64 varint: negative values are 64-bit two's complement. */
  signedVarint(): number {
    this.halves();
    return (this.hi | 0) * 0x1_0000_0000 + this.lo;
  }

  /** A uint32 field: the varint's low 32 bits, as protobuf reads it. */
  uint32(): number {
    this.halves();
    return this.lo;
  }

  tag(): number {
    this.halves();
    if (this.hi !== 0) throw new PeerDecodeError('field tag beyond 32 bits');
    return this.lo;
  }

  /** The end of a length-delimited field that starts here. */
  delimited(until: number): number {
    const length = this.varint();
    const end = this.pos + length;
    if (end > until) throw new PeerDecodeError('field longer than its message');
    return end;
  }

  bytes(until: number): Uint8Array {
    const end = this.delimited(until);
    const bytes = this.buf.subarray(this.pos, end);
    this.pos = end;
    return bytes;
  }

  string(until: number): string {
    const end = this.delimited(until);
    const value = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, end - this.pos).toString('utf8');
    this.pos = end;
    return value;
  }

  /** Repeated varints: packed (one length-delimited run) or not (one varint per field). */
  repeated(wireType: number, until: number, into: number[], read: () => number): void {
    if (wireType === VARINT) {
      into.push(read());
      return this.within(until);
    }
    if (wireType !== BYTES) throw new PeerDecodeError(`repeated varint field of wire type ${wireType}`);
    const end = this.delimited(until);
    while (this.pos < end) into.push(read());
    this.ends(end);
  }

  skip(wireType: number, until: number): void {
    if (wireType === VARINT) this.halves();
    else if (wireType === FIXED64) this.pos += 8;
    else if (wireType === BYTES) this.pos = this.delimited(until);
    else if (wireType === FIXED32) this.pos += 4;
    else throw new PeerDecodeError(`wire type ${wireType}`);
    this.within(until);
  }

  /** The end of the nested message that starts here (a length-delimited field). */
  nested(wireType: number, until: number): number {
    if (wireType !== BYTES) throw new PeerDecodeError(`message field of wire type ${wireType}`);
    return this.delimited(until);
  }

  within(until: number): void {
    if (this.pos > until) throw new PeerDecodeError('field runs past its message');
  }

  ends(end: number): void {
    if (this.pos !== end) throw new PeerDecodeError('field runs past its message');
  }
}

function expect(wireType: number, want: number, field: string): void {
  if (wireType !== want) throw new PeerDecodeError(`${field} has wire type ${wireType}`);
}

/** A varint field's value; checks the wire type and that it stays inside its message. */
function varintOf(r: In, wireType: number, until: number, field: string): number {
  expect(wireType, VARINT, field);
  const value = r.varint();
  r.within(until);
  return value;
}

function readEntry(r: In, end: number): Entry {
  const e: Entry = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY };
  while (r.pos < end) {
    const t = r.tag();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1:
        e.term = varintOf(r, wireType, end, 'entry.term');
        break;
      case 2:
        e.index = varintOf(r, wireType, end, 'entry.index');
        break;
      case 3: {
        const type = varintOf(r, wireType, end, 'entry.type');
        if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new PeerDecodeError(`entry type ${type}`);
        e.type = type;
        break;
      }
      case 4:
        expect(wireType, BYTES, 'entry.data');
        e.data = r.bytes(end);
        break;
      default:
        r.skip(wireType, end);
    }
  }
  r.ends(end);
  return e;
}

function readMeta(r: In, end: number): SnapshotMeta {
  const meta: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };
  while (r.pos < end) {
    const t = r.tag();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1:
        meta.index = varintOf(r, wireType, end, 'snapshot.index');
        break;
      case 2:
        meta.term = varintOf(r, wireType, end, 'snapshot.term');
        break;
      case 3: {
        const confEnd = r.nested(wireType, end);
        while (r.pos < confEnd) {
          const ct = r.tag();
          const field = ct >>> 3;
          if (field === 1) r.repeated(ct & 7, confEnd, meta.conf.voters, () => r.uint32());
          else if (field === 2) r.repeated(ct & 7, confEnd, meta.conf.learners, () => r.uint32());
          else r.skip(ct & 7, confEnd);
        }
        r.ends(confEnd);
        break;
      }
      default:
        r.skip(wireType, end);
    }
  }
  r.ends(end);
  return meta;
}

/** A Raft message, or undefined for a type this member does not know. */
function readMessage(r: In, end: number): Message | undefined {
  const m: Message = { type: MessageType.Hup, to: 0, from: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, commitOnly: false };
  let known = true;
  while (r.pos < end) {
    const t = r.tag();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1: {
        const type = varintOf(r, wireType, end, 'message.type');
        known = type <= MAX_MESSAGE_TYPE;
        m.type = type;
        break;
      }
      case 2:
        expect(wireType, VARINT, 'message.to');
        m.to = r.uint32();
        r.within(end);
        break;
      case 3:
        expect(wireType, VARINT, 'message.from');
        m.from = r.uint32();
        r.within(end);
        break;
      case 4:
        m.term = varintOf(r, wireType, end, 'message.term');
        break;
      case 5:
        m.logTerm = varintOf(r, wireType, end, 'message.log_term');
        break;
      case 6:
        m.index = varintOf(r, wireType, end, 'message.index');
        break;
      case 7:
        m.entries.push(readEntry(r, r.nested(wireType, end)));
        break;
      case 8:
        m.commit = varintOf(r, wireType, end, 'message.commit');
        break;
      case 9:
        m.snapshot = readMeta(r, r.nested(wireType, end));
        break;
      case 10:
        m.reject = varintOf(r, wireType, end, 'message.reject') !== 0;
        break;
      case 11:
        m.rejectHint = varintOf(r, wireType, end, 'message.reject_hint');
        break;
      case 12: {
        expect(wireType, BYTES, 'message.context');
        const context = r.bytes(end);
        m.context = context.length > 0 ? context : undefined;
        break;
      }
      case 13:
        m.commitOnly = varintOf(r, wireType, end, 'message.commit_only') !== 0;
        break;
      default:
        r.skip(wireType, end);
    }
  }
  r.ends(end);
  return known ? m : undefined;
}

function readForward(r: In, end: number): ForwardedTxn {
  const f: ForwardedTxn = { originSeq: 0, txn: EMPTY };
  while (r.pos < end) {
    const t = r.tag();
    const wireType = t & 7;
    const field = t >>> 3;
    if (field === 1) f.originSeq = varintOf(r, wireType, end, 'forward.origin_seq');
    else if (field === 2) {
      expect(wireType, BYTES, 'forward.txn');
      f.txn = r.bytes(end);
    } else r.skip(wireType, end);
  }
  r.ends(end);
  return f;
}

function readRejection(r: In, end: number): ForwardRejection {
  const rejection: ForwardRejection = { originSeq: 0, code: 'UNAVAILABLE', message: '' };
  while (r.pos < end) {
    const t = r.tag();
    const wireType = t & 7;
    const field = t >>> 3;
    if (field === 1) rejection.originSeq = varintOf(r, wireType, end, 'rejection.origin_seq');
    else if (field === 2) {
      expect(wireType, BYTES, 'rejection.error');
      const bytes = r.bytes(end);
      let error: WireErrorOutput;
      try {
        error = errorCodec.decode(bytes);
      } catch (cause) {
        throw new PeerDecodeError(`rejection.error: ${(cause as Error).message}`);
      }
      rejection.code = (error.code || 'UNAVAILABLE') as ErrorCode;
      rejection.message = error.message;
    } else r.skip(wireType, end);
  }
  r.ends(end);
  return rejection;
}

/** Decodes a batch; entry data, contexts and forwarded txns are views into `bytes`, not copies. */
export function decodePeerBatch(bytes: Uint8Array): DecodedPeerBatch {
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
  const r = new In(bytes);
  const end = bytes.length;
  while (r.pos < end) {
    const t = r.tag();
    const wireType = t & 7;
    switch (t >>> 3) {
      case 1:
        expect(wireType, BYTES, 'cluster_id');
        batch.clusterId = r.string(end);
        break;
      case 2:
        expect(wireType, VARINT, 'from');
        batch.from = r.uint32();
        break;
      case 3:
        expect(wireType, VARINT, 'to');
        batch.to = r.uint32();
        break;
      case 4: {
        const m = readMessage(r, r.nested(wireType, end));
        if (m) batch.messages.push(m);
        else batch.unknownMessages++;
        break;
      }
      case 5:
        r.repeated(wireType, end, batch.touchedSessions, () => r.varint());
        break;
      case 6:
        batch.forwards.push(readForward(r, r.nested(wireType, end)));
        break;
      case 7:
        batch.rejections.push(readRejection(r, r.nested(wireType, end)));
        break;
      case 8:
        expect(wireType, VARINT, 'ping_ms');
        batch.pingMs = r.signedVarint();
        break;
      case 9:
        expect(wireType, BYTES, 'from_address');
        batch.fromAddress = r.string(end);
        break;
      default:
        r.skip(wireType, end);
    }
  }
  r.ends(end);
  return batch;
}
