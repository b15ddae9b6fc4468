/**
 * The snapshot file format (README.md "Snapshots"): a header carrying the SnapshotMeta, the state
 * machine's records as opaque framed payloads, and a trailer that seals the record sequence.
 * Both directions stream: memory use is bounded by one chunk plus the largest record.
 */
import type { SnapshotMeta } from '../raft/types.js';
import { MalformedPayloadError, encodeSnapshotMeta, hex16, readSnapshotMeta, readU53, writeU53 } from './codec.js';
import { crc32c, crc32cRange } from './crc.js';
import { InvalidLogWriteError, SnapshotCorruptionError } from './errors.js';

const MAGIC = 'CLVS';
const FORMAT_VERSION = 1;
/** magic, crc32c of the rest of the header, version u16, flags u16, meta length u32 */
const HEADER_FIXED_BYTES = 16;
const MAX_META_BYTES = 1024 * 1024;
const RECORD_FRAME_BYTES = 8;
/** a length field of all ones marks the trailer instead of a record */
const TRAILER_MARK = 0xffffffff;
/** record count u64, payload bytes u64, chain crc32c u32 */
const TRAILER_BODY_BYTES = 20;
/** encoded output is gathered into chunks of about this size */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

const SNAPSHOT_NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export function snapshotName(meta: { index: number; term: number }): string {
  return `snap-${hex16(meta.index)}-${hex16(meta.term)}.snap`;
}

export function parseSnapshotName(name: string): { index: number; term: number } | undefined {
  const match = SNAPSHOT_NAME.exec(name);
  return match ? { index: parseInt(match[1]!, 16), term: parseInt(match[2]!, 16) } : undefined;
}

/** Newest first: by index, then term. */
export function newestFirst(a: { index: number; term: number }, b: { index: number; term: number }): number {
  return b.index - a.index || b.term - a.term;
}

function encodeHeader(meta: SnapshotMeta): Buffer {
  const metaBytes = encodeSnapshotMeta(meta);
  const header = Buffer.alloc(HEADER_FIXED_BYTES + metaBytes.length);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt16LE(FORMAT_VERSION, 8);
  header.writeUInt32LE(metaBytes.length, 12);
  metaBytes.copy(header, HEADER_FIXED_BYTES);
  header.writeUInt32LE(crc32c(header.subarray(8)), 4);
  return header;
}

/**
 * A record that writes itself into the snapshot file's chunk (so the encoding makes no buffer per
 * record): `size` bytes at `at`. The encoder uses it before pulling the next record, so a source
 * may hand out one writer object again and again, re-aimed at each record.
 */
export interface RecordWriter {
  readonly size: number;
  writeTo(out: Buffer, at: number): void;
}

/** A snapshot record: its bytes, or a writer of them. */
export type EncodableRecord = Uint8Array | RecordWriter;

/** A record's bytes: itself, or what its writer writes into a buffer of their own. */
export function recordBytes(record: EncodableRecord): Uint8Array {
  if (record instanceof Uint8Array) return record;
  const out = Buffer.allocUnsafe(record.size);
  record.writeTo(out, 0);
  return out;
}

const isRecordWriter = (record: unknown): record is RecordWriter =>
  typeof record === 'object' && record !== null && typeof (record as RecordWriter).writeTo === 'function' && Number.isSafeInteger((record as RecordWriter).size) && (record as RecordWriter).size >= 0;

/** A synchronous record source gives the event loop a turn after this many records. */
const RECORDS_PER_TURN = 2000;

/**
 * Encodes a snapshot file from its records, as a stream of chunks of about SNAPSHOT_CHUNK_BYTES:
 * each record is framed and written (or copied) into the chunk being filled; a record of a chunk's
 * size or more given as bytes passes through without a copy. A chunk handed out is never written
 * again. A synchronous source is read without a promise per record, with a turn of the event loop
 * every RECORDS_PER_TURN records so that the process keeps serving meanwhile.
 */
export async function* encodeSnapshot(
  meta: SnapshotMeta,
  records: Iterable<EncodableRecord> | AsyncIterable<EncodableRecord>,
): AsyncGenerator<Uint8Array> {
  const encoder = new SnapshotEncoder(meta);
  if (Symbol.asyncIterator in records) {
    for await (const record of records) {
      encoder.add(record);
      if (encoder.ready.length > 0) yield* encoder.take();
    }
  } else {
    let n = 0;
    for (const record of records) {
      encoder.add(record);
      if (encoder.ready.length > 0) yield* encoder.take();
      if (++n % RECORDS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  encoder.finish();
  yield* encoder.take();
}

/** encodeSnapshot's state: the chunk being filled, and the chunks ready to hand out. */
class SnapshotEncoder {
  ready: Uint8Array[] = [];
  private chunk: Buffer;
  private used: number;
  private count = 0;
  private payloadBytes = 0;
  private chain = 0;

  constructor(meta: SnapshotMeta) {
    const header = encodeHeader(meta);
    this.chunk = Buffer.allocUnsafeSlow(Math.max(SNAPSHOT_CHUNK_BYTES, header.length));
    header.copy(this.chunk, 0);
    this.used = header.length;
  }

  take(): Uint8Array[] {
    const ready = this.ready;
    this.ready = [];
    return ready;
  }

  add(record: EncodableRecord): void {
    const bytes = record instanceof Uint8Array ? record : undefined;
    if (bytes === undefined && !isRecordWriter(record)) throw new InvalidLogWriteError('snapshot records must be Uint8Arrays or record writers');
    const size = bytes !== undefined ? bytes.length : (record as RecordWriter).size;
    if (size >= TRAILER_MARK) throw new InvalidLogWriteError(`snapshot record of ${size} bytes is too large`);
    const passThrough = bytes !== undefined && size >= SNAPSHOT_CHUNK_BYTES;
    this.room(RECORD_FRAME_BYTES + (passThrough ? 0 : size));
    const chunk = this.chunk;
    const frameAt = this.used;
    const at = frameAt + RECORD_FRAME_BYTES;
    let checksum: number;
    if (passThrough) checksum = crc32c(bytes);
    else {
      if (bytes !== undefined) chunk.set(bytes, at);
      else (record as RecordWriter).writeTo(chunk, at);
      checksum = crc32c(chunk.subarray(at, at + size));
    }
    chunk.writeUInt32LE(size, frameAt);
    chunk.writeUInt32LE(checksum, frameAt + 4);
    this.chain = crc32cRange(chunk, frameAt, at, this.chain);
    this.count++;
    this.payloadBytes += size;
    this.used = passThrough ? at : at + size;
    if (passThrough) {
      this.flush(SNAPSHOT_CHUNK_BYTES);
      this.ready.push(bytes);
    }
  }

  /** Writes the trailer and hands out the last chunk. */
  finish(): void {
    const trailerBytes = RECORD_FRAME_BYTES + TRAILER_BODY_BYTES;
    this.room(trailerBytes);
    const trailer = this.chunk.subarray(this.used, this.used + trailerBytes);
    trailer.writeUInt32LE(TRAILER_MARK, 0);
    writeU53(trailer, 8, this.count);
    writeU53(trailer, 16, this.payloadBytes);
    trailer.writeUInt32LE(this.chain, 24);
    trailer.writeUInt32LE(crc32c(trailer.subarray(RECORD_FRAME_BYTES)), 4);
    this.used += trailerBytes;
    this.flush(0);
  }

  /** Makes room for `bytes` more in the chunk, handing it out for a new one if need be. */
  private room(bytes: number): void {
    if (this.used + bytes > this.chunk.length) this.flush(Math.max(SNAPSHOT_CHUNK_BYTES, bytes));
  }

  /** Hands out the chunk's bytes so far and starts a chunk of `nextBytes`. */
  private flush(nextBytes: number): void {
    if (this.used > 0) this.ready.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafeSlow(nextBytes);
    this.used = 0;
  }
}

async function* fromSync(source: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* source;
}

/**
 * Pulls exact byte counts out of a stream of chunks of any size. Reading consumes the first chunk
 * from a position on, without a view per read: a snapshot's million small records cost no garbage
 * beyond the payload views handed out.
 */
class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  /** chunks read and not yet consumed, the first from `position` on */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** where the unread bytes start in the first chunk */
  position = 0;
  /** bytes consumed so far: the file offset of the next byte */
  offset = 0;

  constructor(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    this.iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : fromSync(source);
  }

  /** Reads chunks until `count` bytes are buffered; false if the stream ends first. */
  async fill(count: number): Promise<boolean> {
    while (this.buffered < count) {
      const next = await this.iterator.next();
      if (next.done) return false;
      if (next.value.length === 0) continue;
      this.chunks.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      this.buffered += next.value.length;
    }
    return true;
  }

  /** The first chunk, when it holds the next `count` bytes whole (from `position`); else undefined. */
  inPlace(count: number): Buffer | undefined {
    const first = this.chunks[0];
    return first !== undefined && first.length - this.position >= count ? first : undefined;
  }

  /** Consumes `count` buffered bytes. */
  advance(count: number): void {
    this.buffered -= count;
    this.offset += count;
    this.position += count;
    while (this.chunks.length > 0 && this.position >= this.chunks[0]!.length) {
      this.position -= this.chunks[0]!.length;
      this.chunks.shift();
    }
  }

  /** Exactly `count` bytes, or undefined if the stream ends first. */
  async take(count: number): Promise<Buffer | undefined> {
    return (await this.fill(count)) ? this.takeBuffered(count) : undefined;
  }

  /**
   * `count` bytes if they are already buffered (most reads: no promise per record), else undefined:
   * a view into the first chunk, or a copy when they span chunks.
   */
  takeBuffered(count: number): Buffer | undefined {
    if (this.buffered < count) return undefined;
    const first = this.inPlace(count);
    let taken: Buffer;
    if (first !== undefined) {
      taken = first.subarray(this.position, this.position + count);
    } else {
      taken = Buffer.allocUnsafe(count);
      let at = 0;
      for (let i = 0, from = this.position; at < count; i++, from = 0) {
        const chunk = this.chunks[i]!;
        const n = Math.min(chunk.length - from, count - at);
        chunk.copy(taken, at, from, from + n);
        at += n;
      }
    }
    this.advance(count);
    return taken;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/**
 * Reads and verifies a snapshot stream: first the header (readMeta), then the records. Every
 * checksum, the record count and chain in the trailer, and the end of the stream are checked; any
 * failure is a SnapshotCorruptionError naming `file` and the byte offset.
 */
export class SnapshotReader {
  private readonly reader: ChunkReader;

  /** `size`, when known, lets a corrupt length field fail at once instead of buffering to the end. */
  constructor(
    source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    private readonly file: string,
    private readonly size?: number,
  ) {
    this.reader = new ChunkReader(source);
  }

  async readMeta(): Promise<SnapshotMeta> {
    const fixed = await this.reader.take(HEADER_FIXED_BYTES);
    if (!fixed) throw this.corrupt(0, 'file ends inside the header');
    if (fixed.toString('latin1', 0, 4) !== MAGIC) throw this.corrupt(0, 'not a snapshot file (bad magic)');
    const version = fixed.readUInt16LE(8);
    if (version !== FORMAT_VERSION) throw this.corrupt(0, `unsupported format version ${version}`);
    const metaLength = fixed.readUInt32LE(12);
    if (metaLength > MAX_META_BYTES) throw this.corrupt(0, `header claims ${metaLength} bytes of meta`);
    const metaBytes = await this.reader.take(metaLength);
    if (!metaBytes) throw this.corrupt(0, 'file ends inside the header');
    if (crc32c(metaBytes, crc32c(fixed.subarray(8))) !== fixed.readUInt32LE(4)) throw this.corrupt(0, 'header checksum mismatch');
    try {
      return readSnapshotMeta(metaBytes);
    } catch (error) {
      if (error instanceof MalformedPayloadError) throw this.corrupt(0, `checksum-valid header that does not decode: ${error.message}`);
      throw error;
    }
  }

  /**
   * Yields the records' payloads in batches, then checks the trailer and the end of the stream. A
   * batch holds the records whole in what was read so far (about a chunk of the file), so a reader
   * pays one turn of the event loop per chunk rather than per record. Payloads are views into the
   * chunks read, valid as long as the caller holds them: copy what you keep, or keep a whole chunk.
   */
  async *records(): AsyncGenerator<Uint8Array[]> {
    let count = 0;
    let payloadBytes = 0;
    let chain = 0;
    let batch: Uint8Array[] = [];
    try {
      const reader = this.reader;
      for (;;) {
        const at = reader.offset;
        let frame = reader.inPlace(RECORD_FRAME_BYTES);
        let frameAt = reader.position;
        if (frame === undefined) {
          if (batch.length > 0) yield batch;
          batch = [];
          frame = await reader.take(RECORD_FRAME_BYTES);
          if (!frame) throw this.corrupt(at, 'file ends without a trailer');
          frameAt = 0;
        } else {
          reader.advance(RECORD_FRAME_BYTES);
        }
        const length = frame.readUInt32LE(frameAt);
        const checksum = frame.readUInt32LE(frameAt + 4);
        if (length === TRAILER_MARK) {
          if (batch.length > 0) yield batch;
          this.checkTrailer(at, await reader.take(TRAILER_BODY_BYTES), checksum, count, payloadBytes, chain);
          if (!(await reader.atEnd())) throw this.corrupt(reader.offset, 'data after the trailer');
          return;
        }
        if (this.size !== undefined && at + RECORD_FRAME_BYTES + length > this.size) {
          throw this.corrupt(at, `record of ${length} bytes runs past the end of the file`);
        }
        const payload = reader.takeBuffered(length) ?? (await reader.take(length));
        if (!payload) throw this.corrupt(at, `file ends inside a record of ${length} bytes`);
        if (crc32c(payload) !== checksum) throw this.corrupt(at, 'record checksum mismatch');
        chain = crc32cRange(frame, frameAt, frameAt + RECORD_FRAME_BYTES, chain);
        count++;
        payloadBytes += length;
        batch.push(payload);
      }
    } finally {
      await this.reader.close();
    }
  }

  /** Reads the whole stream, verifying everything; returns the meta. */
  async verify(): Promise<SnapshotMeta> {
    const meta = await this.readMeta();
    const records = this.records();
    while (!(await records.next()).done);
    return meta;
  }

  private checkTrailer(at: number, body: Buffer | undefined, checksum: number, count: number, payloadBytes: number, chain: number): void {
    if (!body) throw this.corrupt(at, 'file ends inside the trailer');
    if (crc32c(body) !== checksum) throw this.corrupt(at, 'trailer checksum mismatch');
    let expectedCount: number;
    let expectedBytes: number;
    try {
      expectedCount = readU53(body, 0);
      expectedBytes = readU53(body, 8);
    } catch {
      throw this.corrupt(at, 'trailer does not decode');
    }
    if (expectedCount !== count || expectedBytes !== payloadBytes || body.readUInt32LE(16) !== chain) {
      throw this.corrupt(at, `trailer expects ${expectedCount} records of ${expectedBytes} bytes, found ${count} of ${payloadBytes} (or another sequence)`);
    }
  }

  private corrupt(offset: number, problem: string): SnapshotCorruptionError {
    return new SnapshotCorruptionError(this.file, offset, problem);
  }
}
