/**
 * The member's whole log (after etcd-io/raft's raftLog): stable Storage followed by the Unstable
 * tail, plus the commit and apply cursors.
 *
 * Invariants: applied <= applying <= committed <= lastIndex(); firstIndex() - 1 <= applied.
 * Internally an unknown term is -1 (a compacted or missing index) rather than a thrown error,
 * to keep the hot paths free of exceptions.
 */

import { RaftInvariantError } from './errors.js';
import { Unstable } from './log-unstable.js';
import { countWithinSize, entrySize, type Storage } from './storage.js';
import type { Entry, SnapshotMeta } from './types.js';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index handed to the application in a Ready (applied once that Ready is advanced). */
  applying: number;
  /** Highest index the application has applied. */
  applied: number;
  private readonly maxApplyingBytes: number;

  constructor(storage: Storage, maxApplyingBytes: number) {
    this.storage = storage;
    this.maxApplyingBytes = maxApplyingBytes;
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i >= 0 ? i : this.storage.firstIndex();
  }

  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    return i >= 0 ? i : this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t < 0) throw new RaftInvariantError(`term of the last index ${this.lastIndex()} is unknown`);
    return t;
  }

  /** Term of entry i, or -1 when i is compacted away or beyond the last index. */
  term(index: number): number {
    const t = this.unstable.maybeTerm(index);
    if (t >= 0) return t;
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return -1;
    return this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Whether a log ending at (lastIndex, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends the leader's entries following (prevIndex, prevTerm) if our log matches there, and
   * commits up to min(commit, last new index). Returns the last new index, or -1 on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict > 0) {
      if (conflict <= this.committed) {
        throw new RaftInvariantError(`entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries (possibly truncating a conflicting uncommitted suffix); returns the last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(`append after ${after} would overwrite committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Index of the first of ents that is missing from our log or has a different term; 0 when all
   * are present. Entries are contiguous.
   */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: where a diverging log
   * can match ours at best. An unknown (compacted) term stops the search with term 0.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i > 0; i--) {
      const ourTerm = this.term(i);
      if (ourTerm < 0) return { index: i, term: 0 };
      if (ourTerm <= term) return { index: i, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} is beyond the last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  /** Commits `index` if it is new and has term `term` (the leader's current term). */
  maybeCommit(index: number, term: number): boolean {
    if (term > 0 && index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index > this.committed || index < this.applied) {
      throw new RaftInvariantError(`applied ${index} is out of [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  /** Entries [lo, lastIndex], at most maxBytes (at least one). Throws if lo is compacted. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Entries [lo, hi) at most maxBytes (at least one); [] when lo is compacted, check firstIndex(). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex() || hi > this.lastIndex() + 1) {
      throw new RaftInvariantError(`slice [${lo}, ${hi}) out of [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    }
    const u = this.unstable;
    if (lo >= u.offset) {
      const ents = u.entries;
      const from = lo - u.offset;
      return ents.slice(from, from + countWithinSize(ents, from, hi - u.offset, maxBytes));
    }
    const cut = Math.min(hi, u.offset);
    const stable = this.storage.entries(lo, cut, maxBytes);
    if (hi <= u.offset || stable.length < cut - lo) return stable;
    let size = 0;
    for (const e of stable) size += entrySize(e);
    const ents = u.entries;
    const end = hi - u.offset;
    for (let i = 0; i < end; i++) {
      const e = ents[i]!;
      size += entrySize(e);
      if (size > maxBytes) break;
      stable.push(e);
    }
    return stable;
  }

  hasNextUnstable(): boolean {
    return this.unstable.hasNext();
  }

  nextUnstableEntries(): Entry[] {
    return this.unstable.nextEntries();
  }

  nextUnstableSnapshot(): SnapshotMeta | undefined {
    return this.unstable.nextSnapshot();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Whether committed entries wait to be handed out (none while a snapshot is being installed). */
  hasNextCommitted(): boolean {
    return !this.hasPendingSnapshot() && this.applying < this.committed;
  }

  /**
   * Committed entries not yet handed out, at most maxApplyingBytes. Everything in the log is
   * handed out for persistence by the same Ready at the latest, so applying unstable entries
   * here is safe: the Ready contract persists before it applies.
   */
  nextCommittedEntries(upTo = this.committed): Entry[] {
    const hi = Math.min(upTo, this.committed);
    if (!this.hasNextCommitted() || this.applying >= hi) return [];
    return this.slice(this.applying + 1, hi + 1, this.maxApplyingBytes);
  }

  /** The last entry handed to a Ready for persistence (or persisted). */
  lastHandedOut(): number {
    return this.unstable.offsetInProgress - 1;
  }

  acceptApplying(index: number): void {
    this.applying = Math.max(this.applying, index);
  }

  /** The latest snapshot: the incoming one if any, else the stable one. */
  snapshot(): SnapshotMeta {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snapshot: SnapshotMeta): void {
    this.committed = snapshot.index;
    this.unstable.restore(snapshot);
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }
}
