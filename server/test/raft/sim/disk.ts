/**
 * A simulated disk: writes land in a volatile cache until sync(); a crash loses the cache. It
 * holds what the node layer persists: the latest snapshot (meta and state-machine data), the log
 * after it, and the HardState.
 */

import { type Entry, type HardState, type SnapshotMeta } from '../../../src/raft/index.js';

/** What a snapshot file holds in the simulation: the state machine reduced to a digest. */
export interface SnapshotData {
  meta: SnapshotMeta;
  /** Chain hash of the applied entries up to meta.index. */
  digest: number;
}

export interface DiskState {
  snapshot: SnapshotData;
  /** The log after the last compaction (it may start before the snapshot's index). */
  entries: Entry[];
  hardState: HardState;
}

type Write =
  | { kind: 'entries'; entries: Entry[] }
  | { kind: 'hardState'; hardState: HardState }
  /** A snapshot file: received from a leader (it replaces the log), or taken locally. */
  | { kind: 'snapshot'; snapshot: SnapshotData; replacesLog: boolean }
  | { kind: 'compact'; index: number };

export class SimDisk {
  readonly synced: DiskState;
  private cache: Write[] = [];

  constructor(snapshot: SnapshotData) {
    this.synced = { snapshot, entries: [], hardState: { term: 0, vote: 0, commit: 0 } };
  }

  write(w: Write): void {
    this.cache.push(w);
  }

  sync(): void {
    for (const w of this.cache) apply(this.synced, w);
    this.cache = [];
  }

  crash(): void {
    this.cache = [];
  }
}

function apply(d: DiskState, w: Write): void {
  switch (w.kind) {
    case 'entries': {
      if (w.entries.length === 0) return;
      const first = w.entries[0]!.index;
      const base = d.entries.length > 0 ? d.entries[0]!.index : d.snapshot.meta.index + 1;
      if (first < base) {
        d.entries = w.entries.slice(base - first);
        return;
      }
      if (first > base + d.entries.length) throw new Error(`disk: gap appending ${first} after ${base + d.entries.length - 1}`);
      d.entries.length = first - base;
      for (const e of w.entries) d.entries.push(e);
      return;
    }
    case 'hardState':
      d.hardState = w.hardState;
      return;
    case 'snapshot':
      d.snapshot = w.snapshot;
      if (w.replacesLog) d.entries = [];
      return;
    case 'compact': {
      const base = d.entries.length > 0 ? d.entries[0]!.index : d.snapshot.meta.index + 1;
      if (w.index >= base) d.entries = d.entries.slice(w.index + 1 - base);
      return;
    }
  }
}
