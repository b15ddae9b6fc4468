/**
 * Compact little-endian encodings of the Raft types that storage keeps: Entry, HardState and
 * SnapshotMeta (README.md "Payloads"). Terms and indexes are u64 fields holding integers below
 * 2^53; member ids are u32.
 */
import { EntryType, type ConfState, type Entry, type HardState, type SnapshotMeta } from '../raft/types.js';
import { InvalidLogWriteError } from './errors.js';

const TWO_POW_32 = 2 ** 32;

/** Thrown by the decoders; the caller adds the file and offset. */
export class MalformedPayloadError extends Error {}

function checkU53(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidLogWriteError(`${what} must be an integer in [0, 2^53), got ${value}`);
  }
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_POW_32) {
    throw new InvalidLogWriteError(`${what} must be an integer in [0, 2^32), got ${value}`);
  }
}

export function writeU53(buffer: Buffer, offset: number, value: number): number {
  buffer.writeUInt32LE(value >>> 0, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
  return offset + 8;
}

export function readU53(buffer: Buffer, offset: number): number {
  const high = buffer.readUInt32LE(offset + 4);
  if (high >= 1 << 21) throw new MalformedPayloadError(`integer at payload byte ${offset} exceeds 2^53`);
  return high * TWO_POW_32 + buffer.readUInt32LE(offset);
}

// Entry: term u64, index u64, type u8, data (the rest of the payload).
const ENTRY_FIXED_BYTES = 17;

export function entryBytes(entry: Entry): number {
  return ENTRY_FIXED_BYTES + entry.data.length;
}

export function checkEntry(entry: Entry): void {
  checkU53(entry.term, 'entry term');
  checkU53(entry.index, 'entry index');
  if (entry.type !== EntryType.Normal && entry.type !== EntryType.ConfChange) {
    throw new InvalidLogWriteError(`unknown entry type ${String(entry.type)} at index ${entry.index}`);
  }
}

export function writeEntry(buffer: Buffer, offset: number, entry: Entry): number {
  offset = writeEntryHead(buffer, offset, entry);
  buffer.set(entry.data, offset);
  return offset + entry.data.length;
}

/** Writes an entry's fixed fields only; its data follows them. */
export function writeEntryHead(buffer: Buffer, offset: number, entry: Entry): number {
  offset = writeU53(buffer, offset, entry.term);
  offset = writeU53(buffer, offset, entry.index);
  buffer[offset] = entry.type;
  return offset + 1;
}

/** Decodes an entry payload; `data` is a copy, so the entry does not pin the segment buffer. */
export function readEntry(payload: Buffer): Entry {
  if (payload.length < ENTRY_FIXED_BYTES) throw new MalformedPayloadError(`entry payload of ${payload.length} bytes`);
  const type = payload[16]!;
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
    throw new MalformedPayloadError(`unknown entry type ${type}`);
  }
  return {
    term: readU53(payload, 0),
    index: readU53(payload, 8),
    type,
    data: payload.subarray(ENTRY_FIXED_BYTES).slice(),
  };
}

// HardState: term u64, vote u32, commit u64.
export const HARD_STATE_BYTES = 20;

export function checkHardState(state: HardState): void {
  checkU53(state.term, 'hard state term');
  checkU32(state.vote, 'hard state vote');
  checkU53(state.commit, 'hard state commit');
}

export function writeHardState(buffer: Buffer, offset: number, state: HardState): number {
  offset = writeU53(buffer, offset, state.term);
  buffer.writeUInt32LE(state.vote, offset);
  return writeU53(buffer, offset + 4, state.commit);
}

export function readHardState(payload: Buffer): HardState {
  if (payload.length !== HARD_STATE_BYTES) throw new MalformedPayloadError(`hard state of ${payload.length} bytes`);
  return { term: readU53(payload, 0), vote: payload.readUInt32LE(8), commit: readU53(payload, 12) };
}

// SnapshotMeta: index u64, term u64, voter count u32, voters u32..., learner count u32, learners u32...
export function snapshotMetaBytes(meta: SnapshotMeta): number {
  return 24 + 4 * (meta.conf.voters.length + meta.conf.learners.length);
}

export function checkSnapshotMeta(meta: SnapshotMeta): void {
  checkU53(meta.index, 'snapshot index');
  checkU53(meta.term, 'snapshot term');
  for (const id of meta.conf.voters) checkU32(id, 'voter id');
  for (const id of meta.conf.learners) checkU32(id, 'learner id');
}

export function writeSnapshotMeta(buffer: Buffer, offset: number, meta: SnapshotMeta): number {
  offset = writeU53(buffer, offset, meta.index);
  offset = writeU53(buffer, offset, meta.term);
  for (const ids of [meta.conf.voters, meta.conf.learners]) {
    offset = buffer.writeUInt32LE(ids.length, offset);
    for (const id of ids) offset = buffer.writeUInt32LE(id, offset);
  }
  return offset;
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Buffer {
  checkSnapshotMeta(meta);
  const buffer = Buffer.allocUnsafe(snapshotMetaBytes(meta));
  writeSnapshotMeta(buffer, 0, meta);
  return buffer;
}

export function readSnapshotMeta(payload: Buffer): SnapshotMeta {
  if (payload.length < 24) throw new MalformedPayloadError(`snapshot meta of ${payload.length} bytes`);
  const index = readU53(payload, 0);
  const term = readU53(payload, 8);
  let offset = 16;
  const readIds = (): number[] => {
    if (offset + 4 > payload.length) throw new MalformedPayloadError('snapshot meta ends inside a member list');
    const count = payload.readUInt32LE(offset);
    offset += 4;
    if (offset + 4 * count > payload.length) throw new MalformedPayloadError(`member list of ${count} overruns the meta`);
    const ids: number[] = [];
    for (let i = 0; i < count; i++, offset += 4) ids.push(payload.readUInt32LE(offset));
    return ids;
  };
  const conf: ConfState = { voters: readIds(), learners: readIds() };
  if (offset !== payload.length) throw new MalformedPayloadError(`${payload.length - offset} stray bytes after snapshot meta`);
  return { index, term, conf };
}

export function sameSnapshotMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const sameIds = (x: number[], y: number[]) => x.length === y.length && x.every((id, i) => id === y[i]);
  return a.index === b.index && a.term === b.term && sameIds(a.conf.voters, b.conf.voters) && sameIds(a.conf.learners, b.conf.learners);
}

export function hex16(value: number): string {
  return value.toString(16).padStart(16, '0');
}
