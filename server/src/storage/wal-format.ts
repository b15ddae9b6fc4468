/**
 * WAL records and segments (README.md "WAL"). A record is framed as
 * [u32 length][u32 crc32c over type+payload][u8 type][payload], length = 1 + payload bytes.
 */
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import {
  HARD_STATE_BYTES,
  MalformedPayloadError,
  entryBytes,
  hex16,
  readEntry,
  readHardState,
  readSnapshotMeta,
  readU53,
  snapshotMetaBytes,
  writeEntry,
  writeEntryHead,
  writeHardState,
  writeSnapshotMeta,
  writeU53,
} from './codec.js';
import { crc32c } from './crc.js';
import { WalCorruptionError } from './errors.js';

const RECORD_SEGMENT_HEADER = 1;
const RECORD_ENTRY = 2;
const RECORD_HARD_STATE = 3;
const RECORD_SNAPSHOT_MARKER = 4;

const FRAME_BYTES = 9;
const MAGIC = 'CLVW';
const FORMAT_VERSION = 1;
const SEGMENT_HEADER_PAYLOAD_BYTES = 22;
/** The header is always the first record, so a segment's entries start at this offset or later. */
export const SEGMENT_HEADER_BYTES = FRAME_BYTES + SEGMENT_HEADER_PAYLOAD_BYTES;

type WalRecord =
  | { kind: 'header'; offset: number; seq: number; firstIndex: number }
  | { kind: 'entry'; offset: number; entry: Entry }
  | { kind: 'hardState'; offset: number; hardState: HardState }
  | { kind: 'snapshot'; offset: number; meta: SnapshotMeta };

/**
 * One record to frame: its type, payload size, and how to write the payload. A record with a
 * `tail` writes only the payload's first `bytes - tail.length` bytes; the tail follows them on disk
 * and is handed to writev as it is, not copied.
 */
export interface RecordSource {
  type: number;
  bytes: number;
  write(buffer: Buffer, offset: number): void;
  tail?: Uint8Array;
}

/**
 * Entries with at least this much data are written from their own buffer (a writev element) rather
 * than copied into the batch's: a copy of a 100 KB entry costs more than an element of the gather.
 */
export const ENTRY_GATHER_MIN_BYTES = 4096;

export function entryRecord(entry: Entry): RecordSource {
  if (entry.data.length >= ENTRY_GATHER_MIN_BYTES) {
    return { type: RECORD_ENTRY, bytes: entryBytes(entry), write: (buffer, offset) => writeEntryHead(buffer, offset, entry), tail: entry.data };
  }
  return { type: RECORD_ENTRY, bytes: entryBytes(entry), write: (buffer, offset) => writeEntry(buffer, offset, entry) };
}

export function hardStateRecord(state: HardState): RecordSource {
  return { type: RECORD_HARD_STATE, bytes: HARD_STATE_BYTES, write: (buffer, offset) => writeHardState(buffer, offset, state) };
}

export function snapshotMarkerRecord(meta: SnapshotMeta): RecordSource {
  return { type: RECORD_SNAPSHOT_MARKER, bytes: snapshotMetaBytes(meta), write: (buffer, offset) => writeSnapshotMeta(buffer, offset, meta) };
}

export function segmentHeaderRecord(seq: number, firstIndex: number): RecordSource {
  return {
    type: RECORD_SEGMENT_HEADER,
    bytes: SEGMENT_HEADER_PAYLOAD_BYTES,
    write(buffer, offset) {
      buffer.write(MAGIC, offset, 'latin1');
      buffer.writeUInt16LE(FORMAT_VERSION, offset + 4);
      writeU53(buffer, offset + 6, seq);
      writeU53(buffer, offset + 14, firstIndex);
    },
  };
}

/**
 * Frames records for a single writev: the frames and inline payloads in one new buffer, cut where
 * a record's tail goes between them. The pieces, in order, are the bytes to write.
 */
export function frameRecords(records: readonly RecordSource[]): Uint8Array[] {
  let inline = 0;
  for (const record of records) inline += FRAME_BYTES + record.bytes - (record.tail?.length ?? 0);
  const buffer = Buffer.allocUnsafe(inline);
  const pieces: Uint8Array[] = [];
  let pieceStart = 0;
  let offset = 0;
  for (const record of records) {
    const tail = record.tail;
    const end = offset + FRAME_BYTES + record.bytes - (tail?.length ?? 0);
    buffer.writeUInt32LE(1 + record.bytes, offset);
    buffer[offset + 8] = record.type;
    record.write(buffer, offset + FRAME_BYTES);
    let crc = crc32c(buffer.subarray(offset + 8, end));
    if (tail) {
      crc = crc32c(tail, crc);
      pieces.push(buffer.subarray(pieceStart, end), tail);
      pieceStart = end;
    }
    buffer.writeUInt32LE(crc, offset + 4);
    offset = end;
  }
  if (pieceStart < inline || pieces.length === 0) pieces.push(buffer.subarray(pieceStart, inline));
  return pieces;
}

const SEGMENT_NAME = /^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$/;

export function segmentName(seq: number, firstIndex: number): string {
  return `wal-${hex16(seq)}-${hex16(firstIndex)}.log`;
}

export function parseSegmentName(name: string): { seq: number; firstIndex: number } | undefined {
  const match = SEGMENT_NAME.exec(name);
  return match ? { seq: parseInt(match[1]!, 16), firstIndex: parseInt(match[2]!, 16) } : undefined;
}

/** Where a segment is built before it is renamed into place (so a named segment always has a header). */
export function segmentTempName(seq: number): string {
  return `wal-${hex16(seq)}.tmp`;
}

export function isSegmentTempName(name: string): boolean {
  return /^wal-[0-9a-f]{16}\.tmp$/.test(name);
}

/** Why the frame at `offset` is not a valid record, or undefined if it is. */
function frameProblem(buffer: Buffer, offset: number): string | undefined {
  if (buffer.length - offset < FRAME_BYTES) return `incomplete frame of ${buffer.length - offset} bytes`;
  const length = buffer.readUInt32LE(offset);
  if (length === 0) return 'zero length';
  if (length > buffer.length - offset - 8) return `frame of ${length} bytes runs past the end of the file`;
  if (crc32c(buffer.subarray(offset + 8, offset + 8 + length)) !== buffer.readUInt32LE(offset + 4)) {
    return 'checksum mismatch';
  }
  return undefined;
}

/** True if some offset after `offset` holds a checksum-valid frame of a known type. */
function validFrameAfter(buffer: Buffer, offset: number): boolean {
  // A valid frame has a non-zero length, so it starts at or before the last non-zero byte.
  const last = lastNonZeroByte(buffer);
  for (let at = offset + 1; at <= last && at + FRAME_BYTES <= buffer.length; at++) {
    const type = buffer[at + 8]!;
    if (type < RECORD_SEGMENT_HEADER || type > RECORD_SNAPSHOT_MARKER) continue;
    if (frameProblem(buffer, at) === undefined) return true;
  }
  return false;
}

const ZEROS = Buffer.alloc(64 * 1024);

function lastNonZeroByte(buffer: Buffer): number {
  let end = buffer.length;
  while (end > 0) {
    const start = Math.max(0, end - ZEROS.length);
    if (buffer.compare(ZEROS, 0, end - start, start, end) !== 0) {
      for (let at = end - 1; ; at--) if (buffer[at] !== 0) return at;
    }
    end = start;
  }
  return -1;
}

function decodeRecord(type: number, payload: Buffer, offset: number): WalRecord {
  switch (type) {
    case RECORD_SEGMENT_HEADER: {
      if (payload.length !== SEGMENT_HEADER_PAYLOAD_BYTES) throw new MalformedPayloadError(`segment header of ${payload.length} bytes`);
      if (payload.toString('latin1', 0, 4) !== MAGIC) throw new MalformedPayloadError('bad magic');
      const version = payload.readUInt16LE(4);
      if (version !== FORMAT_VERSION) throw new MalformedPayloadError(`unsupported format version ${version}`);
      return { kind: 'header', offset, seq: readU53(payload, 6), firstIndex: readU53(payload, 14) };
    }
    case RECORD_ENTRY:
      return { kind: 'entry', offset, entry: readEntry(payload) };
    case RECORD_HARD_STATE:
      return { kind: 'hardState', offset, hardState: readHardState(payload) };
    case RECORD_SNAPSHOT_MARKER:
      return { kind: 'snapshot', offset, meta: readSnapshotMeta(payload) };
    default:
      throw new MalformedPayloadError(`unknown record type ${type}`);
  }
}

interface ScannedSegment {
  /** the header first, then the other records in file order */
  records: WalRecord[];
  /** where the valid records end: the file length, or the start of a torn tail */
  end: number;
}

/**
 * Decodes a whole segment. In the last segment, a bad frame with no valid frame anywhere after it is
 * a torn tail (an interrupted write or a preallocated zero tail): scanning stops there. Any other bad
 * frame, a bad header, or a checksum-valid record that does not decode is corruption.
 */
export function scanSegment(buffer: Buffer, file: string, isLast: boolean): ScannedSegment {
  const records: WalRecord[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const problem = frameProblem(buffer, offset);
    if (problem !== undefined) {
      if (offset === 0) throw new WalCorruptionError(file, 0, `bad segment header: ${problem}`);
      if (!isLast) throw new WalCorruptionError(file, offset, `${problem} in a sealed (non-last) segment`);
      if (validFrameAfter(buffer, offset)) throw new WalCorruptionError(file, offset, `${problem}, followed by valid records`);
      return { records, end: offset };
    }
    const length = buffer.readUInt32LE(offset);
    const type = buffer[offset + 8]!;
    let record: WalRecord;
    try {
      record = decodeRecord(type, buffer.subarray(offset + FRAME_BYTES, offset + 8 + length), offset);
    } catch (error) {
      if (!(error instanceof MalformedPayloadError)) throw error;
      throw new WalCorruptionError(file, offset, `checksum-valid record that does not decode: ${error.message}`);
    }
    if ((record.kind === 'header') !== (offset === 0)) {
      throw new WalCorruptionError(file, offset, offset === 0 ? 'segment does not start with a header' : 'second segment header');
    }
    records.push(record);
    offset += 8 + length;
  }
  if (records.length === 0) throw new WalCorruptionError(file, 0, 'empty segment (no header)');
  return { records, end: offset };
}
