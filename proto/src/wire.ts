/**
 * Protobuf's wire format by hand, for the few messages on hot paths that are encoded and decoded
 * without protobufjs: in the server, snapshot node records (node-record.ts), log entries'
 * transactions (txn-encode.ts, txn-decode.ts), peer batches (transport/peer-codec.ts) and the
 * Session stream (api/session-down.ts, api/session-up.ts); in the client, the Session stream
 * (session-codec.ts).
 * Numbers are JavaScript numbers: 64-bit fields are exact up to 2^53, as protobufjs reads them
 * without Long; negative int32/int64 values take ten bytes, as protobuf writes them.
 */

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

const TWO_32 = 0x1_0000_0000;

/** A field's tag byte(s) as a number: field number and wire type. */
export const tag = (field: number, wireType: WireType): number => (field << 3) | wireType;

/** Bytes of `value` as a varint. */
export function varintSize(value: number): number {
  if (value < 0) return 10;
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 4;
  for (value = Math.floor(value / 0x10000000); value > 0; value = Math.floor(value / 0x80)) size++;
  return size;
}

/** Writes `value` as a varint at `at`; returns where it ends. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  if (value < 0) {
    // Two's complement in 64 bits: the low word, then the high word of all ones (|value| < 2^53).
    let lo = value % TWO_32 >>> 0;
    let hi = (Math.floor(value / TWO_32) >>> 0) | 0;
    for (let i = 0; i < 9; i++) {
      out[at++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    out[at++] = 1;
    return at;
  }
  // below 2^31 with bit operations; larger values (times, 64-bit ids) by division
  while (value > 0x7fffffff) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/** Bytes of a varint field with a one-byte tag (fields 1-15), left out when zero (proto3's default). */
export function varintFieldSize(value: number): number {
  return value === 0 ? 0 : 1 + varintSize(value);
}

/** Writes a varint field with a one-byte tag unless it is zero; returns where it ends. */
export function writeVarintField(out: Uint8Array, at: number, tagByte: number, value: number): number {
  if (value === 0) return at;
  out[at++] = tagByte;
  return writeVarint(out, at, value);
}

/** Bytes of repeated varints packed (without the field's tag and length). */
export function packedSize(values: readonly number[]): number {
  let size = 0;
  for (const v of values) size += varintSize(v);
  return size;
}

/** Bytes of a length-delimited field of `length` bytes with a one-byte tag (fields 1-15). */
export const delimitedFieldSize = (length: number): number => 1 + varintSize(length) + length;

/** Bytes of length-delimited field `field` (any number) of `length` bytes. */
export const messageFieldSize = (field: number, length: number): number => varintSize(tag(field, WireType.Bytes)) + varintSize(length) + length;

/**
 * Writes fields into a buffer sized beforehand. Varint, bool, bytes and string fields take field
 * numbers below 16 (one tag byte), and are left out when zero/false/empty, as proto3 does.
 */
export class WireWriter {
  at = 0;
  /** the pieces cut so far by gathered bytes fields, and where the next piece of `buf` starts */
  private pieces: Uint8Array[] | undefined;
  private pieceStart = 0;

  /**
   * `gatherMin`: fields written with gatheredBytes this large are not copied into `buf` but left where
   * they are, between pieces of it (`finish`), for a writev; `buf` is then sized without them.
   */
  constructor(
    readonly buf: Buffer,
    private readonly gatherMin = Infinity,
  ) {}

  /** The encoding in order: `buf`'s pieces with the gathered fields between them (one piece if none). */
  finish(): Uint8Array[] {
    const last = this.buf.subarray(this.pieceStart, this.at);
    if (this.pieces === undefined) return [last];
    if (last.length > 0) this.pieces.push(last);
    return this.pieces;
  }

  varint(field: number, value: number): void {
    this.at = writeVarintField(this.buf, this.at, tag(field, WireType.Varint), value);
  }

  bool(field: number, value: boolean): void {
    if (value) this.varint(field, 1);
  }

  /** The tag and length of a length-delimited field (any field number); its content follows. */
  header(field: number, length: number): void {
    this.at = writeVarint(this.buf, this.at, tag(field, WireType.Bytes));
    this.at = writeVarint(this.buf, this.at, length);
  }

  /** A bytes field left in its own buffer (a piece of `finish`) when it is `gatherMin` bytes or more. */
  gatheredBytes(field: number, bytes: Uint8Array): void {
    if (bytes.length < this.gatherMin) return this.bytes(field, bytes);
    this.header(field, bytes.length);
    (this.pieces ??= []).push(this.buf.subarray(this.pieceStart, this.at), bytes);
    this.pieceStart = this.at;
  }

  bytes(field: number, bytes: Uint8Array): void {
    this.header(field, bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** Writes the field unless empty. */
  optionalBytes(field: number, bytes: Uint8Array): void {
    if (bytes.length > 0) this.bytes(field, bytes);
  }

  /** A string field of `byteLength` UTF-8 bytes (measured beforehand), left out when empty. */
  string(field: number, value: string, byteLength: number): void {
    if (byteLength === 0) return;
    this.header(field, byteLength);
    this.at += this.buf.write(value, this.at, byteLength, 'utf8');
  }

  packed(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    this.header(field, packedSize(values));
    for (const v of values) this.at = writeVarint(this.buf, this.at, v);
  }
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** Thrown for bytes that are not well-formed protobuf; readers may make their own error instead. */
export class WireFormatError extends Error {}

/** The last string WireReader.cachedString read through it, and its bytes. */
export class StringCache {
  bytes: Uint8Array | undefined = undefined;
  value = '';
}

/** Where bytesPlaced copies a field (the server's DataSlabs: node data packed into shared slabs). */
export interface BytePlacer {
  /** copies bytes [from, from + n) of `source` to a place of its own */
  place(source: Uint8Array, from: number, n: number): void;
}

/** bytesKept keeps views of fields this large; smaller ones are copied (a copy costs little, a view pins) */
const KEEP_VIEW_MIN_BYTES = 4096;

/** A copy of bytes [from, from + n) of `source` (small ones in Node's shared buffer pool). */
function copyOut(source: Uint8Array, from: number, n: number): Buffer {
  const copy = Buffer.allocUnsafe(n);
  Buffer.prototype.copy.call(source, copy, 0, from, from + n);
  return copy;
}

/**
 * Reads protobuf fields off a byte range. One reader can be reused for many inputs (reset) and
 * walk embedded messages in place (enter/leave), so that a decoder on a hot path allocates nothing
 * but what it returns.
 */
export class WireReader {
  /** the same bytes as a Buffer, for decoding strings without a view per string (made when first needed) */
  private buffer: Buffer | undefined;

  constructor(
    private bytes: Uint8Array,
    public at: number,
    private end: number,
    private readonly fail: (reason: string) => Error = (reason) => new WireFormatError(reason),
  ) {}

  /** Reads `bytes` [at, end) from now on. */
  reset(bytes: Uint8Array, at: number, end: number): void {
    if (bytes !== this.bytes) {
      this.bytes = bytes;
      this.buffer = undefined;
    }
    this.at = at;
    this.end = end;
  }

  /** Where the range read ends. */
  get limit(): number {
    return this.end;
  }

  /**
   * Narrows this reader to the embedded message that starts here; returns the end to give back to
   * leave() once the message is read (the reader then continues after it).
   */
  enter(wireType: number): number {
    if (wireType !== WireType.Bytes) throw this.fail(`a message field of wire type ${wireType}`);
    const n = this.length();
    const outer = this.end;
    this.end = this.at + n;
    return outer;
  }

  leave(outerEnd: number): void {
    this.end = outerEnd;
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  /** A varint as a number: exact up to 2^53; ten-byte negatives as their 64-bit signed value. */
  varint(): number {
    const bytes = this.bytes;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; ; i++) {
      if (this.at >= this.end || i === 10) throw this.fail('a varint runs past its field');
      const b = bytes[this.at++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) break;
      shift += 7;
    }
    return (hi | 0) * TWO_32 + (lo >>> 0);
  }

  /** A uint32 field: the varint's low 32 bits, as protobuf reads it. */
  uint32(): number {
    return this.varint() % TWO_32 >>> 0;
  }

  /** The length of a length-delimited field, checked against the range. */
  length(): number {
    const length = this.varint();
    if (length < 0 || this.at + length > this.end) throw this.fail('a field runs past its message');
    return length;
  }

  /** A bytes field: a view into the bytes read, not a copy. */
  bytesView(): Uint8Array {
    const n = this.length();
    const view = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return view;
  }

  /**
   * A bytes field to keep for long (a node's data): a view when it is large and fills at least half
   * of the memory under the bytes read, so keeping it pins at most twice its size; otherwise a copy
   * (bytesCopy). Fields of up to `keeperCopies` bytes are views too: their keeper copies them itself
   * (the server's tree, into its slabs). The bytes read must never be written again (a log entry's,
   * a received message's).
   */
  bytesKept(keeperCopies = 0): Buffer {
    const n = this.length();
    const from = this.at;
    this.at += n;
    const bytes = this.bytes;
    if (n <= keeperCopies || (n >= KEEP_VIEW_MIN_BYTES && 2 * n >= bytes.buffer.byteLength)) return Buffer.from(bytes.buffer, bytes.byteOffset + from, n);
    return copyOut(bytes, from, n);
  }

  /** A bytes field copied out (small ones into Node's shared buffer pool): no view is kept. */
  bytesCopy(): Buffer {
    const n = this.length();
    const copy = copyOut(this.bytes, this.at, n);
    this.at += n;
    return copy;
  }

  /** A bytes field copied by `placer` (which says where it went); returns its length. */
  bytesPlaced(placer: BytePlacer): number {
    const n = this.length();
    placer.place(this.bytes, this.at, n);
    this.at += n;
    return n;
  }

  string(): string {
    const n = this.length();
    const value = (this.buffer ??= asBuffer(this.bytes)).toString('utf8', this.at, this.at + n);
    this.at += n;
    return value;
  }

  /**
   * A string that usually repeats (a connection's cluster id, its peer's address): when its bytes
   * are those `cache` last saw, the string read then is returned again instead of a new one.
   */
  cachedString(cache: StringCache): string {
    const n = this.length();
    const bytes = this.bytes;
    const at = this.at;
    const last = cache.bytes;
    let same = last !== undefined && last.length === n;
    for (let i = 0; same && i < n; i++) same = last![i] === bytes[at + i];
    if (!same) {
      cache.bytes = bytes.slice(at, at + n);
      cache.value = (this.buffer ??= asBuffer(bytes)).toString('utf8', at, at + n);
    }
    this.at += n;
    return cache.value;
  }

  /** A reader for the embedded message that starts here; this one continues after it. */
  message(wireType: number): WireReader {
    if (wireType !== WireType.Bytes) throw this.fail(`a message field of wire type ${wireType}`);
    const n = this.length();
    const inner = new WireReader(this.bytes, this.at, this.at + n, this.fail);
    inner.buffer = this.buffer;
    this.at += n;
    return inner;
  }

  /** Repeated varints: packed (one length-delimited run) or not (one per field). */
  varints(wireType: number, into: number[], read: (r: WireReader) => number = (r) => r.varint()): void {
    if (wireType === WireType.Varint) return void into.push(read(this));
    const run = this.message(wireType);
    while (!run.done) into.push(read(run));
  }

  /** Checks a field's wire type. */
  expect(wireType: number, want: WireType, field: string): void {
    if (wireType !== want) throw this.fail(`${field} has wire type ${wireType}`);
  }

  skip(wireType: number): void {
    if (wireType === WireType.Varint) this.varint();
    else if (wireType === WireType.Bytes) {
      const n = this.length(); // (not `this.at += this.length()`: that adds to `at` as it was before the length)
      this.at += n;
    } else if (wireType === WireType.Fixed64) this.at += 8;
    else if (wireType === WireType.Fixed32) this.at += 4;
    else throw this.fail(`unknown wire type ${wireType}`);
    if (this.at > this.end) throw this.fail('a field runs past its message');
  }
}
