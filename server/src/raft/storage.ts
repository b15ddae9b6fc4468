/**
 * The stable log as the core sees it (after etcd-io/raft's Storage and MemoryStorage).
 *
 * The node layer owns durability: it fills a MemoryStorage from the write-ahead log at start-up,
 * and after each fsync appends what a Ready asked it to persist. The core only reads it. Snapshot
 * data never passes through here: the core knows a snapshot by its SnapshotMeta only.
 */

import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, RaftInvariantError } from './errors.js';
import { EntryColumns } from './entry-columns.js';
import type { ConfState, Entry, HardState, SnapshotMeta } from './types.js';

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/** Read-only view of stable storage used by the core. */
export interface Storage {
  /** The persisted HardState and the ConfState of the latest snapshot. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), cut to at most maxBytes (by entrySize) but always at least one entry, in
   * a new array the caller may extend (the entries themselves are shared and never mutated).
   * Throws ErrCompacted if lo <= the compacted index, ErrUnavailable if hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i, for i in [firstIndex() - 1, lastIndex()]; throws ErrCompacted / ErrUnavailable. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot's metadata (index 0, term 0 when there is none). */
  snapshot(): SnapshotMeta;
}

/** Approximate encoded size of an entry: its data plus the framing of term, index and type. */
export const ENTRY_OVERHEAD_BYTES = 16;

export function entrySize(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Number of leading entries of ents[from, to) whose total size fits maxBytes (at least one). */
export function countWithinSize(ents: readonly Entry[], from: number, to: number, maxBytes: number): number {
  if (to <= from) return 0;
  let size = entrySize(ents[from]!);
  let i = from + 1;
  while (i < to) {
    size += entrySize(ents[i]!);
    if (size > maxBytes) break;
    i++;
  }
  return i - from;
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [] };
}

export function copyConfState(conf: ConfState): ConfState {
  return { voters: conf.voters.slice(), learners: conf.learners.slice() };
}

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: SnapshotMeta = { index: 0, term: 0, conf: emptyConfState() };
  /**
   * The last compacted (or released) entry: its term stays known so that an append right after it
   * can be matched. compact() never passes the snapshot; release() may (see there).
   */
  private baseIndex = 0;
  private baseTerm = 0;
  /** ents entry i has index baseIndex + 1 + i. */
  private readonly ents = new EntryColumns();
  /** the entrySize() of ents, summed */
  private bytes = 0;

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: copyConfState(this.snap.conf) };
  }

  setHardState(hardState: HardState): void {
    this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.ents.length;
  }

  term(index: number): number {
    if (index < this.baseIndex) throw new ErrCompacted(index, this.firstIndex());
    if (index > this.lastIndex()) throw new ErrUnavailable(index, this.lastIndex());
    if (index === this.baseIndex) return this.baseTerm;
    return this.ents.term(index - this.baseIndex - 1);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.baseIndex) throw new ErrCompacted(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new ErrUnavailable(hi - 1, this.lastIndex());
    const from = lo - this.baseIndex - 1;
    const to = hi - this.baseIndex - 1;
    const out: Entry[] = [];
    let size = 0;
    for (let i = from; i < to; i++) {
      size += this.heldSize(i);
      if (size > maxBytes && out.length > 0) break;
      out.push(this.ents.get(i, this.baseIndex + 1 + i));
    }
    return out;
  }

  snapshot(): SnapshotMeta {
    return { index: this.snap.index, term: this.snap.term, conf: copyConfState(this.snap.conf) };
  }

  /** The entries held, in bytes (by entrySize). */
  byteSize(): number {
    return this.bytes;
  }

  /**
   * Appends entries that must follow the log or overlap it: a conflicting suffix is replaced.
   * Entries at or below the compacted index are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const last = entries[entries.length - 1]!.index;
    if (last <= this.baseIndex) return;
    if (first > this.lastIndex() + 1) {
      throw new RaftInvariantError(`append at ${first} leaves a gap after last index ${this.lastIndex()}`);
    }
    const skip = Math.max(0, this.baseIndex + 1 - first);
    const keep = first + skip - this.baseIndex - 1;
    for (let i = keep; i < this.ents.length; i++) this.bytes -= this.heldSize(i);
    this.ents.truncate(keep);
    for (let i = skip; i < entries.length; i++) {
      this.ents.push(entries[i]!);
      this.bytes += entrySize(entries[i]!);
    }
  }

  /** Replaces the whole log by a snapshot (received from the leader, or loaded at start-up). */
  applySnapshot(meta: SnapshotMeta): void {
    if (meta.index < this.snap.index) throw new ErrSnapOutOfDate(meta.index, this.snap.index);
    this.snap = { index: meta.index, term: meta.term, conf: copyConfState(meta.conf) };
    this.baseIndex = meta.index;
    this.baseTerm = meta.term;
    this.ents.clear();
    this.bytes = 0;
  }

  /**
   * Records that the state machine was snapshotted at `index` (<= the applied index) with
   * configuration `conf`. Entries are kept until compact().
   */
  createSnapshot(index: number, conf: ConfState): SnapshotMeta {
    if (index <= this.snap.index) throw new ErrSnapOutOfDate(index, this.snap.index);
    const term = this.term(index);
    this.snap = { index, term, conf: copyConfState(conf) };
    return this.snapshot();
  }

  /**
   * Discards the entries up to and including `index`, which must be covered by the snapshot:
   * a member needing them must be able to catch up from the snapshot instead.
   */
  compact(index: number): void {
    if (index <= this.baseIndex) throw new ErrCompacted(index, this.firstIndex());
    if (index > this.snap.index) {
      throw new RaftInvariantError(`compact(${index}) beyond the snapshot at ${this.snap.index}`);
    }
    this.dropThrough(index);
  }

  /**
   * Drops the oldest entries, none after `upTo`, until the rest hold at most `maxBytes`; returns
   * how many. Unlike compact(), no snapshot needs to cover them: this bounds the memory the log
   * takes, and the node must then make sure a member that needs them gets a snapshot taken after
   * them (Node.trimLog). `upTo` must be applied, and at most lastIndex().
   */
  release(maxBytes: number, upTo: number): number {
    if (upTo > this.lastIndex()) throw new RaftInvariantError(`release up to ${upTo} beyond the last index ${this.lastIndex()}`);
    let bytes = this.bytes;
    let n = 0;
    const limit = upTo - this.baseIndex;
    while (n < limit && bytes > maxBytes) bytes -= this.heldSize(n++);
    if (n > 0) this.dropThrough(this.baseIndex + n, bytes);
    return n;
  }

  /** The entrySize() of held entry i (0 is the first held). */
  private heldSize(i: number): number {
    return this.ents.dataLength(i) + ENTRY_OVERHEAD_BYTES;
  }

  /** Drops the entries through `index`; `bytesLeft`, when the caller summed it already, is what stays. */
  private dropThrough(index: number, bytesLeft?: number): void {
    const n = index - this.baseIndex;
    this.baseTerm = this.term(index);
    if (bytesLeft !== undefined) this.bytes = bytesLeft;
    else for (let i = 0; i < n; i++) this.bytes -= this.heldSize(i);
    this.ents.dropFirst(n);
    this.baseIndex = index;
  }
}
