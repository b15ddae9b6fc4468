/**
 * The contract of durable Raft log storage, shared by the file-backed Wal and the in-memory
 * MemoryLogStore used under simulation, and the replay rules both recover by.
 */
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { checkEntry, checkSnapshotMeta } from './codec.js';
import { InvalidLogWriteError } from './errors.js';

export interface LogStore {
  /**
   * Appends entries (overwriting any suffix from entries[0].index on) and the hard state; resolves
   * once both are durable. Entries must be contiguous, above the snapshot marker's index, and start
   * at most one past the last index. Calls resolve in call order; after a failed call, every call
   * not yet durable fails with it.
   */
  append(entries: readonly Entry[], hardState?: HardState): Promise<void>;
  /** Durably records that a snapshot at meta.index exists; the index must not go backwards. */
  saveSnapshotMarker(meta: SnapshotMeta): Promise<void>;
  /** Frees storage holding only entries below `index` that the latest snapshot marker covers. */
  releaseBefore(index: number): Promise<void>;
  /** Waits for pending appends, then releases files; later calls fail with WalClosedError. */
  close(): Promise<void>;
}

/** What a log store holds after a restart. */
export interface RecoveredLog {
  hardState?: HardState;
  /** the latest snapshot marker */
  snapshot?: SnapshotMeta;
  /** every entry after the snapshot marker's index, in index order */
  entries: Entry[];
  /** snapshot index + 1 (1 without a snapshot) */
  firstIndex: number;
  /** index of the last entry, or the snapshot index when there are no entries after it */
  lastIndex: number;
}

/** The two numbers that decide whether a write is valid. */
export interface LogPosition {
  lastIndex: number;
  snapshotIndex: number;
}

export function checkAppend(position: LogPosition, entries: readonly Entry[]): void {
  for (const entry of entries) checkEntry(entry);
  const first = entries[0];
  if (first === undefined) return;
  if (first.index <= position.snapshotIndex) {
    throw new InvalidLogWriteError(`cannot write index ${first.index}: the snapshot marker covers up to ${position.snapshotIndex}`);
  }
  if (first.index > position.lastIndex + 1) {
    throw new InvalidLogWriteError(`append at index ${first.index} leaves a gap after the last index ${position.lastIndex}`);
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.index !== entries[i - 1]!.index + 1) {
      throw new InvalidLogWriteError(`entries are not contiguous: ${entries[i - 1]!.index} then ${entries[i]!.index}`);
    }
  }
}

export function checkSnapshotMarker(position: LogPosition, meta: SnapshotMeta): void {
  checkSnapshotMeta(meta);
  if (meta.index < position.snapshotIndex) {
    throw new InvalidLogWriteError(`snapshot marker at ${meta.index} would go back from ${position.snapshotIndex}`);
  }
}

/** The position after a valid append (an overwrite can move lastIndex back). */
export function afterAppend(position: LogPosition, entries: readonly Entry[]): LogPosition {
  const last = entries.at(-1);
  return last === undefined ? position : { lastIndex: last.index, snapshotIndex: position.snapshotIndex };
}

export function afterSnapshotMarker(position: LogPosition, meta: SnapshotMeta): LogPosition {
  return { lastIndex: Math.max(position.lastIndex, meta.index), snapshotIndex: meta.index };
}

export function copySnapshotMeta(meta: SnapshotMeta): SnapshotMeta {
  return { index: meta.index, term: meta.term, conf: { voters: [...meta.conf.voters], learners: [...meta.conf.learners] } };
}

/**
 * Replays log records in write order: a later write of an index replaces it and drops everything
 * after it; the latest hard state and snapshot marker win.
 */
export class LogReplay {
  hardState: HardState | undefined;
  snapshot: SnapshotMeta | undefined;
  /** contiguous; may start at or below the snapshot index */
  entries: Entry[] = [];

  entry(entry: Entry): void {
    const first = this.entries[0]?.index;
    if (first !== undefined && entry.index >= first && entry.index <= first + this.entries.length) {
      this.entries.length = entry.index - first;
    } else {
      this.entries.length = 0;
    }
    this.entries.push(entry);
  }

  get position(): LogPosition {
    const snapshotIndex = this.snapshot?.index ?? 0;
    return { snapshotIndex, lastIndex: Math.max(snapshotIndex, this.entries.at(-1)?.index ?? 0) };
  }

  /** Entries must reach down to the snapshot (or to index 1): a higher first index means lost records. */
  get missingBefore(): number | undefined {
    const first = this.entries[0]?.index;
    const expected = (this.snapshot?.index ?? 0) + 1;
    return first !== undefined && first > expected ? expected : undefined;
  }

  /** Drops entries below `index` (storage released under the snapshot). */
  dropBefore(index: number): void {
    const first = this.entries[0]?.index;
    if (first !== undefined && index > first) this.entries.splice(0, index - first);
  }

  recovered(): RecoveredLog {
    const { snapshotIndex, lastIndex } = this.position;
    const first = this.entries[0]?.index ?? snapshotIndex + 1;
    const entries = this.entries.slice(Math.max(0, snapshotIndex + 1 - first));
    const recovered: RecoveredLog = { entries, firstIndex: snapshotIndex + 1, lastIndex };
    if (this.hardState) recovered.hardState = { ...this.hardState };
    if (this.snapshot) recovered.snapshot = copySnapshotMeta(this.snapshot);
    return recovered;
  }
}
