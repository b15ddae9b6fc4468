/**
 * The snapshot file format (README.md "Snapshots"): a header carrying the SnapshotMeta, the state
 * machine's records as opaque framed payloads, and a trailer that seals the record sequence.
 * Both directions stream: memory use is bounded by one chunk plus the largest record.
 */
import type { SnapshotMeta } from '../raft/types.js';
import { MalformedPayloadError, encodeSnapshotMeta, hex16, readSnapshotMeta, readU53, writeU53 } from './codec.js';
import { crc32c } from './crc.js';
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
 * Encodes a snapshot file from its records, as a stream of chunks. Small records are gathered into
 * chunks of about SNAPSHOT_CHUNK_BYTES; a large record passes through without a copy.
 */
export async function* encodeSnapshot(
  meta: SnapshotMeta,
  records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [encodeHeader(meta)];
  let partBytes = parts[0]!.length;
  let count = 0;
  let payloadBytes = 0;
  let chain = 0;
  for await (const record of records) {
    if (!(record instanceof Uint8Array)) throw new InvalidLogWriteError('snapshot records must be Uint8Arrays');
    if (record.length >= TRAILER_MARK) throw new InvalidLogWriteError(`snapshot record of ${record.length} bytes is too large`);
    const frame = Buffer.allocUnsafe(RECORD_FRAME_BYTES);
    frame.writeUInt32LE(record.length, 0);
    frame.writeUInt32LE(crc32c(record), 4);
    chain = crc32c(frame, chain);
    count++;
    payloadBytes += record.length;
    if (record.length >= SNAPSHOT_CHUNK_BYTES) {
      yield Buffer.concat([...parts, frame]);
      yield record;
      parts = [];
      partBytes = 0;
      continue;
    }
    parts.push(frame, record);
    partBytes += RECORD_FRAME_BYTES + record.length;
    if (partBytes >= SNAPSHOT_CHUNK_BYTES) {
      yield Buffer.concat(parts, partBytes);
      parts = [];
      partBytes = 0;
    }
  }
  const trailer = Buffer.allocUnsafe(RECORD_FRAME_BYTES + TRAILER_BODY_BYTES);
  trailer.writeUInt32LE(TRAILER_MARK, 0);
  writeU53(trailer, 8, count);
  writeU53(trailer, 16, payloadBytes);
  trailer.writeUInt32LE(chain, 24);
  trailer.writeUInt32LE(crc32c(trailer.subarray(RECORD_FRAME_BYTES)), 4);
  parts.push(trailer);
  yield Buffer.concat(parts);
}

async function* fromSync(source: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* source;
}

/** Pulls exact byte counts out of a stream of chunks of any size. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** bytes handed out so far: the file offset of the next byte */
  offset = 0;

  constructor(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    this.iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : fromSync(source);
  }

  /** Exactly `count` bytes, or undefined if the stream ends first. */
  async take(count: number): Promise<Buffer | undefined> {
    while (this.buffered < count) {
      const next = await this.iterator.next();
      if (next.done) return undefined;
      const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return this.takeBuffered(count)!;
  }

  /** `count` bytes if they are already buffered (most reads: no promise per record), else undefined. */
  takeBuffered(count: number): Buffer | undefined {
    if (this.buffered < count) return undefined;
    const first = this.chunks[0];
    let taken: Buffer;
    if (first !== undefined && first.length >= count) {
      taken = first.subarray(0, count);
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
    } else {
      const joined = Buffer.concat(this.chunks, this.buffered);
      taken = joined.subarray(0, count);
      this.chunks = joined.length > count ? [joined.subarray(count)] : [];
    }
    this.buffered -= count;
    this.offset += count;
    return taken;
  }

  async atEnd(): Promise<boolean> {
    while (this.buffered === 0) {
      const next = await this.iterator.next();
      if (next.done) return true;
      if (next.value.length > 0) {
        this.chunks.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
        this.buffered += next.value.length;
      }
    }
    return false;
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
      for (;;) {
        const at = this.reader.offset;
        let frame = this.reader.takeBuffered(RECORD_FRAME_BYTES);
        if (frame === undefined) {
          if (batch.length > 0) yield batch;
          batch = [];
          frame = await this.reader.take(RECORD_FRAME_BYTES);
        }
        if (!frame) throw this.corrupt(at, 'file ends without a trailer');
        const length = frame.readUInt32LE(0);
        if (length === TRAILER_MARK) {
          if (batch.length > 0) yield batch;
          this.checkTrailer(at, await this.reader.take(TRAILER_BODY_BYTES), frame, count, payloadBytes, chain);
          if (!(await this.reader.atEnd())) throw this.corrupt(this.reader.offset, 'data after the trailer');
          return;
        }
        if (this.size !== undefined && at + RECORD_FRAME_BYTES + length > this.size) {
          throw this.corrupt(at, `record of ${length} bytes runs past the end of the file`);
        }
        const payload = this.reader.takeBuffered(length) ?? (await this.reader.take(length));
        if (!payload) throw this.corrupt(at, `file ends inside a record of ${length} bytes`);
        if (crc32c(payload) !== frame.readUInt32LE(4)) throw this.corrupt(at, 'record checksum mismatch');
        chain = crc32c(frame, chain);
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

  private checkTrailer(at: number, body: Buffer | undefined, frame: Buffer, count: number, payloadBytes: number, chain: number): void {
    if (!body) throw this.corrupt(at, 'file ends inside the trailer');
    if (crc32c(body) !== frame.readUInt32LE(4)) throw this.corrupt(at, 'trailer checksum mismatch');
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
