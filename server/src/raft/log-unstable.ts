/**
 * The not-yet-stable tail of the log (after etcd-io/raft's unstable): entries and possibly an
 * incoming snapshot that were not yet confirmed written to Storage. It keeps them after they were
 * handed to a Ready ("in progress") until advance() confirms them stable, so the log stays
 * readable while the write is under way.
 */

import { RaftInvariantError } from './errors.js';
import type { Entry, SnapshotMeta } from './types.js';

export class Unstable {
  snapshot: SnapshotMeta | undefined = undefined;
  snapshotInProgress = false;
  /** entries[i] has index offset + i. May be <= the storage's last index: then it overwrites. */
  entries: Entry[] = [];
  offset: number;
  /** entries before this index were handed to a Ready. offset <= offsetInProgress. */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** First index after the unstable snapshot, or -1 without one. */
  maybeFirstIndex(): number {
    return this.snapshot === undefined ? -1 : this.snapshot.index + 1;
  }

  /** Last index of the unstable entries or snapshot, or -1 when there is neither. */
  maybeLastIndex(): number {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? -1 : this.snapshot.index;
  }

  /** Term of entry i if the unstable part knows it, else -1. */
  maybeTerm(index: number): number {
    if (index < this.offset) {
      return this.snapshot !== undefined && this.snapshot.index === index ? this.snapshot.term : -1;
    }
    const i = index - this.offset;
    return i < this.entries.length ? this.entries[i]!.term : -1;
  }

  /** Entries not yet handed to a Ready. */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    return inProgress >= this.entries.length ? [] : this.entries.slice(inProgress);
  }

  nextSnapshot(): SnapshotMeta | undefined {
    return this.snapshotInProgress ? undefined : this.snapshot;
  }

  hasNext(): boolean {
    return this.offsetInProgress - this.offset < this.entries.length || this.nextSnapshot() !== undefined;
  }

  /** Marks everything currently held as handed to a Ready. */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * Entries up to (index, term) are now readable from Storage. Ignored when the tail was replaced
   * meanwhile (the term no longer matches): the newer entries are still to be written.
   */
  stableTo(index: number, term: number): void {
    if (index < this.offset || this.maybeTerm(index) !== term) return;
    const count = index + 1 - this.offset;
    this.entries = count === this.entries.length ? [] : this.entries.slice(count);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  restore(snapshot: SnapshotMeta): void {
    this.offset = snapshot.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  /** Appends ents (contiguous), replacing any entries at or after ents[0].index. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0]!.index;
    if (from === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (from <= this.offset) {
      this.entries = ents.slice();
      this.offset = from;
      this.offsetInProgress = from;
    } else {
      this.entries.length = from - this.offset;
      for (const e of ents) this.entries.push(e);
      this.offsetInProgress = Math.min(this.offsetInProgress, from);
    }
  }

  /** Entries in [lo, hi), which must lie within the unstable entries. */
  slice(lo: number, hi: number): Entry[] {
    if (lo < this.offset || hi > this.offset + this.entries.length || lo > hi) {
      throw new RaftInvariantError(
        `unstable slice [${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length})`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
