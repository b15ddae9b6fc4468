/**
 * The write-ahead log: segmented files of checksummed records, appended with group commit (one
 * O_DSYNC writev per batch of concurrent calls). See README.md for formats and recovery.
 */
import { join } from 'node:path';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { checkHardState } from './codec.js';
import { StorageIoError, WalClosedError, WalCorruptionError, storageFailure } from './errors.js';
import { ensureDir, nodeFs, readWhole, syncWrites, writeFully, type StorageFile, type StorageFs } from './fs.js';
import {
  LogReplay,
  afterAppend,
  afterSnapshotMarker,
  checkAppend,
  checkSnapshotMarker,
  copySnapshotMeta,
  type LogPosition,
  type LogStore,
  type RecoveredLog,
} from './log-store.js';
import {
  SEGMENT_HEADER_BYTES,
  entryRecord,
  frameRecords,
  hardStateRecord,
  isSegmentTempName,
  parseSegmentName,
  scanSegment,
  segmentHeaderRecord,
  segmentName,
  segmentTempName,
  snapshotMarkerRecord,
  type RecordSource,
} from './wal-format.js';

export interface WalOptions {
  /** a segment is closed and a new one started before a write would take it past this size */
  segmentBytes?: number;
  /** zero-fill the next segment in the background (cheaper fdatasync: see README.md) */
  preallocate?: boolean;
  fs?: StorageFs;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

interface Segment {
  seq: number;
  firstIndex: number;
  path: string;
  /** highest entry index written to the segment (0 if none): it can be released below the snapshot */
  maxIndex: number;
}

/** One call waiting in the group-commit queue. */
interface Pending {
  /** the call's framed records, in writev pieces; empty for an empty append, which only waits for earlier ones */
  pieces: Uint8Array[];
  lastIndex: number | undefined;
  hardState: HardState | undefined;
  snapshot: SnapshotMeta | undefined;
  resolve(): void;
  reject(error: Error): void;
}

interface DurableState {
  position: LogPosition;
  hardState: HardState | undefined;
  snapshot: SnapshotMeta | undefined;
}

interface Preallocated {
  seq: number;
  path: string;
  file: StorageFile;
}

const ZERO_FILL_CHUNK = 1024 * 1024;

export class Wal implements LogStore {
  /** what appends are validated against: the durable state plus the calls queued behind it */
  private accepted: LogPosition;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private releasing: Promise<void> = Promise.resolve();
  private preallocated: Promise<Preallocated | undefined> | undefined;
  /** the next segment's background zero-fill has succeeded: its file is ready */
  private preallocationReady = false;
  /** set when the log cannot be trusted any more: every later call fails with it */
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly fs: StorageFs,
    private readonly segmentBytes: number,
    private readonly preallocate: boolean,
    private readonly segments: Segment[],
    private file: StorageFile,
    /** end of the last durable record of the current segment */
    private offset: number,
    /** a segment is only rotated once it has something after this offset */
    private segmentStart: number,
    /**
     * the current segment's file is zero-filled to its full size: appends overwrite allocated
     * blocks, and their sync has no size or extent change to write (one I/O, not two)
     */
    private currentPreallocated: boolean,
    private readonly durable: DurableState,
  ) {
    this.accepted = { ...durable.position };
  }

  /** Opens (or creates) the log in `dir` and recovers its content; a torn tail is cut off. */
  static async open(dir: string, options: WalOptions = {}): Promise<{ wal: Wal; recovered: RecoveredLog }> {
    const fs = options.fs ?? nodeFs;
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const preallocate = options.preallocate ?? true;
    const { replay, segments, tail } = await replaySegments(fs, await listSegments(fs, dir));
    const durable: DurableState = { position: replay.position, hardState: replay.hardState, snapshot: replay.snapshot };

    let wal: Wal;
    if (tail === undefined) {
      const created = await createSegment(fs, dir, 0, 1, [], undefined);
      try {
        await syncDir(fs, dir);
      } catch (error) {
        await created.file.close().catch(() => undefined);
        throw error;
      }
      wal = new Wal(dir, fs, segmentBytes, preallocate, [created.segment], created.file, created.size, created.size, false, durable);
    } else {
      const current = segments.at(-1)!;
      const preallocated = tail.size >= segmentBytes;
      let file: StorageFile | undefined;
      try {
        file = await fs.open(current.path, 'r+d');
        // What follows the last record is a torn write, or a preallocated zero tail. In a
        // preallocated segment the torn bytes are zeroed, so it stays preallocated after a
        // restart; any other segment is cut back to its last record.
        if (preallocated && tail.dirtyEnd > tail.end) {
          await zeroRange(file, tail.end, tail.dirtyEnd);
        } else if (!preallocated && tail.size > tail.end) {
          await file.truncate(tail.end);
          await file.datasync();
        }
      } catch (error) {
        await file?.close().catch(() => undefined);
        throw storageFailure(error, `open ${current.path} for appending`);
      }
      wal = new Wal(dir, fs, segmentBytes, preallocate, segments, file, tail.end, SEGMENT_HEADER_BYTES, preallocated, durable);
    }
    wal.startPreallocation();
    return { wal, recovered: replay.recovered() };
  }

  append(entries: readonly Entry[], hardState?: HardState): Promise<void> {
    try {
      this.checkUsable();
      checkAppend(this.accepted, entries);
      if (hardState) checkHardState(hardState);
      const records = entries.map(entryRecord);
      if (hardState) records.push(hardStateRecord(hardState));
      this.accepted = afterAppend(this.accepted, entries);
      return this.enqueue(records, entries.at(-1)?.index, hardState && { ...hardState }, undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  saveSnapshotMarker(meta: SnapshotMeta): Promise<void> {
    try {
      this.checkUsable();
      checkSnapshotMarker(this.accepted, meta);
      const snapshot = copySnapshotMeta(meta);
      this.accepted = afterSnapshotMarker(this.accepted, snapshot);
      return this.enqueue([snapshotMarkerRecord(snapshot)], undefined, undefined, snapshot);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes the oldest segments, one at a time so the remaining ones always form a suffix. */
  releaseBefore(index: number): Promise<void> {
    const run = this.releasing.then(async () => {
      this.checkUsable();
      const limit = Math.min(index, this.durable.position.snapshotIndex + 1);
      while (this.segments.length > 1 && this.segments[0]!.maxIndex < limit) {
        const segment = this.segments[0]!;
        try {
          await this.fs.unlink(segment.path);
          this.segments.shift();
          await this.fs.syncDir(this.dir);
        } catch (error) {
          throw storageFailure(error, `release WAL segment ${segment.path}`);
        }
      }
    });
    this.releasing = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.releasing;
    const preallocated = await this.preallocated;
    try {
      if (preallocated) {
        await preallocated.file.close();
        await this.fs.unlink(preallocated.path);
      }
      await this.file.close();
    } catch (error) {
      throw storageFailure(error, `close the WAL in ${this.dir}`);
    }
  }

  /** Segment files currently holding the log, oldest first. */
  segmentPaths(): string[] {
    return this.segments.map((segment) => segment.path);
  }

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new WalClosedError(`the WAL in ${this.dir} is closed`);
  }

  private enqueue(
    records: RecordSource[],
    lastIndex: number | undefined,
    hardState: HardState | undefined,
    snapshot: SnapshotMeta | undefined,
  ): Promise<void> {
    const pieces = records.length > 0 ? frameRecords(records) : [];
    return new Promise((resolve, reject) => {
      this.queue.push({ pieces, lastIndex, hardState, snapshot, resolve, reject });
      // Started in a microtask, so every call made in the same tick joins the first batch.
      this.flushing ??= Promise.resolve().then(() => this.drain());
    });
  }

  /** Writes batches until the queue is empty; calls queued during a sync form the next batch. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.writeBatch(this.queue.splice(0));
    this.flushing = undefined;
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const buffers: Uint8Array[] = [];
    let bytes = 0;
    for (const pending of batch) {
      for (const piece of pending.pieces) {
        buffers.push(piece);
        bytes += piece.length;
      }
    }
    try {
      if (this.failure) throw this.failure;
      if (bytes > 0) {
        // Full, or not preallocated (a new log's first segment, or one a restart found short) while
        // the next one is ready: appends to a preallocated segment sync one I/O instead of two.
        const full = this.offset + bytes > this.segmentBytes;
        const switchToPreallocated = !this.currentPreallocated && this.preallocationReady;
        if (this.offset > this.segmentStart && (full || switchToPreallocated)) await this.rotate();
        await writeFully(this.file, buffers, this.offset);
        await syncWrites(this.file);
        this.offset += bytes;
        for (const pending of batch) this.markDurable(pending);
      }
    } catch (error) {
      const failure = this.failure ?? storageFailure(error, `append to ${this.currentPath}`);
      for (const pending of [...batch, ...this.queue.splice(0)]) pending.reject(failure);
      this.accepted = { ...this.durable.position };
      if (!this.failure) await this.cutBack(failure);
      return;
    }
    for (const pending of batch) pending.resolve();
  }

  private markDurable(pending: Pending): void {
    if (pending.lastIndex !== undefined) {
      this.durable.position.lastIndex = pending.lastIndex;
      const current = this.segments.at(-1)!;
      current.maxIndex = Math.max(current.maxIndex, pending.lastIndex);
    }
    if (pending.hardState) this.durable.hardState = pending.hardState;
    if (pending.snapshot) {
      this.durable.snapshot = pending.snapshot;
      this.durable.position = afterSnapshotMarker(this.durable.position, pending.snapshot);
    }
  }

  /**
   * After a failed write or fdatasync the bytes past the last durable record are in an unknown
   * state, and after a failed fsync the kernel may report the same dirty pages clean later
   * (fsyncgate). Cutting the file back to the durable end and syncing that drops those pages, so
   * the next append starts from acknowledged data only. If even that fails, the log fails for good.
   */
  private async cutBack(cause: Error): Promise<void> {
    try {
      await this.file.truncate(this.offset);
      await this.file.datasync();
    } catch (error) {
      this.failure = new WalClosedError(
        `the WAL in ${this.dir} failed permanently: after "${cause.message}" it could not be cut back to its last durable record; restart the member to recover from disk`,
        error,
      );
    }
  }

  private get currentPath(): string {
    return this.segments.at(-1)!.path;
  }

  /** Seals the current segment at its exact length and starts the next one. */
  private async rotate(): Promise<void> {
    await this.file.truncate(this.offset);
    await this.file.datasync();
    const seq = this.segments.at(-1)!.seq + 1;
    const preallocated = await this.preallocated;
    this.preallocated = undefined;
    this.preallocationReady = false;
    const initial: RecordSource[] = [];
    if (this.durable.hardState) initial.push(hardStateRecord(this.durable.hardState));
    if (this.durable.snapshot) initial.push(snapshotMarkerRecord(this.durable.snapshot));
    const created = await createSegment(this.fs, this.dir, seq, this.durable.position.lastIndex + 1, initial, preallocated);
    // The new segment is in place: from here on, the old one must never be appended to again.
    await this.file.close().catch(() => undefined);
    this.file = created.file;
    this.segments.push(created.segment);
    this.offset = created.size;
    this.segmentStart = created.size;
    this.currentPreallocated = created.preallocated;
    try {
      await syncDir(this.fs, this.dir);
    } catch (error) {
      this.failure = new WalClosedError(`the WAL in ${this.dir} failed permanently: a new segment could not be made durable`, error);
      throw this.failure;
    }
    this.startPreallocation();
  }

  /**
   * Zero-fills the next segment's file in the background. A failure here is not reported: the
   * rotation then creates the file itself and reports any error of its own.
   */
  private startPreallocation(): void {
    if (!this.preallocate) return;
    const seq = this.segments.at(-1)!.seq + 1;
    const path = join(this.dir, segmentTempName(seq));
    this.preallocated = zeroFill(this.fs, path, this.segmentBytes).then(
      (file) => {
        this.preallocationReady = true;
        return { seq, path, file };
      },
      () => undefined,
    );
  }
}

/** The segment files in `dir`, in sequence order, after deleting leftover temp segments. */
async function listSegments(fs: StorageFs, dir: string): Promise<{ name: string; path: string; seq: number; firstIndex: number }[]> {
  let names: string[];
  try {
    await ensureDir(fs, dir);
    names = await fs.readdir(dir);
    for (const name of names.filter(isSegmentTempName)) await fs.unlink(join(dir, name));
  } catch (error) {
    throw storageFailure(error, `open the WAL directory ${dir}`);
  }
  const found = [];
  for (const name of names) {
    const parsed = parseSegmentName(name);
    if (parsed) found.push({ name, path: join(dir, name), ...parsed });
  }
  return found.sort((a, b) => a.seq - b.seq);
}

/** Reads and replays every segment, checking how each one follows the one before. */
async function replaySegments(
  fs: StorageFs,
  found: { name: string; path: string; seq: number; firstIndex: number }[],
): Promise<{ replay: LogReplay; segments: Segment[]; tail: RecoveredTail | undefined }> {
  const replay = new LogReplay();
  const segments: Segment[] = [];
  let tail: RecoveredTail | undefined;
  let firstEntryAt: { file: string; offset: number } | undefined;
  for (const [i, { name, path, seq, firstIndex }] of found.entries()) {
    const previous = found[i - 1];
    if (previous && seq !== previous.seq + 1) {
      throw new WalCorruptionError(path, 0, `segment sequence gap: ${previous.name} is followed by ${name}`);
    }
    let buffer: Buffer;
    try {
      buffer = await readWhole(fs, path);
    } catch (error) {
      throw storageFailure(error, `read WAL segment ${path}`);
    }
    const isLast = i === found.length - 1;
    const { records, end } = scanSegment(buffer, path, isLast);
    const header = records[0]!;
    if (header.kind !== 'header' || header.seq !== seq || header.firstIndex !== firstIndex) {
      throw new WalCorruptionError(path, 0, 'segment header does not match the file name');
    }
    if (i > 0 && firstIndex !== replay.position.lastIndex + 1) {
      throw new WalCorruptionError(
        path,
        0,
        `segment starts at index ${firstIndex} but the segments before it end at index ${replay.position.lastIndex}`,
      );
    }
    let maxIndex = 0;
    for (const record of records) {
      if (record.kind === 'entry') {
        replay.entry(record.entry);
        if (replay.entries.length === 1) firstEntryAt = { file: path, offset: record.offset };
        maxIndex = Math.max(maxIndex, record.entry.index);
      } else if (record.kind === 'hardState') {
        replay.hardState = record.hardState;
      } else if (record.kind === 'snapshot') {
        replay.snapshot = record.meta;
      }
    }
    segments.push({ seq, firstIndex, path, maxIndex });
    if (isLast) tail = { end, dirtyEnd: endOfNonZero(buffer, end), size: buffer.length };
  }
  const missing = replay.missingBefore;
  if (missing !== undefined && firstEntryAt) {
    throw new WalCorruptionError(
      firstEntryAt.file,
      firstEntryAt.offset,
      `the log starts at index ${replay.entries[0]!.index} but entries from ${missing} on are missing`,
    );
  }
  return { replay, segments, tail };
}

/** Where the last segment's records end, where non-zero bytes after them end, and its size. */
interface RecoveredTail {
  end: number;
  dirtyEnd: number;
  size: number;
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024);

/** The offset just past the last non-zero byte at or after `from` (`from` if there is none). */
function endOfNonZero(buffer: Buffer, from: number): number {
  let at = buffer.length;
  // Whole zero chunks are skipped with a native compare: a preallocated segment is mostly zeros.
  while (at - from >= ZERO_CHUNK.length && buffer.subarray(at - ZERO_CHUNK.length, at).equals(ZERO_CHUNK)) at -= ZERO_CHUNK.length;
  for (; at > from; at--) if (buffer[at - 1] !== 0) return at;
  return from;
}

/** Overwrites [from, to) of `file` with zeros, durably. */
async function zeroRange(file: StorageFile, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(ZERO_FILL_CHUNK, to - from));
  for (let at = from; at < to; at += zeros.length) await writeFully(file, [zeros.subarray(0, Math.min(zeros.length, to - at))], at);
  await syncWrites(file);
}

async function zeroFill(fs: StorageFs, path: string, bytes: number): Promise<StorageFile> {
  const file = await fs.open(path, 'w+d');
  try {
    await zeroRange(file, 0, bytes);
    return file;
  } catch (error) {
    await file.close().catch(() => undefined);
    await fs.unlink(path).catch(() => undefined);
    throw error;
  }
}

/**
 * Builds a segment under a temporary name (header and initial records, synced) and renames it into
 * place, so a file with a segment name always has a durable header. The caller syncs the directory.
 */
async function createSegment(
  fs: StorageFs,
  dir: string,
  seq: number,
  firstIndex: number,
  initial: RecordSource[],
  preallocated: Preallocated | undefined,
): Promise<{ segment: Segment; file: StorageFile; size: number; preallocated: boolean }> {
  const usable = preallocated?.seq === seq ? preallocated : undefined;
  if (preallocated && !usable) {
    await preallocated.file.close().catch(() => undefined);
    await fs.unlink(preallocated.path).catch(() => undefined);
  }
  const tempPath = usable?.path ?? join(dir, segmentTempName(seq));
  const path = join(dir, segmentName(seq, firstIndex));
  let file: StorageFile | undefined = usable?.file;
  try {
    file ??= await fs.open(tempPath, 'w+d');
    const size = await writeFully(file, frameRecords([segmentHeaderRecord(seq, firstIndex), ...initial]), 0);
    await syncWrites(file);
    await fs.rename(tempPath, path);
    return { segment: { seq, firstIndex, path, maxIndex: 0 }, file, size, preallocated: usable !== undefined };
  } catch (error) {
    await file?.close().catch(() => undefined);
    await fs.unlink(tempPath).catch(() => undefined);
    throw storageFailure(error, `create WAL segment ${path}`);
  }
}

async function syncDir(fs: StorageFs, dir: string): Promise<void> {
  try {
    await fs.syncDir(dir);
  } catch (error) {
    throw new StorageIoError(`could not fsync the WAL directory ${dir}`, error);
  }
}
