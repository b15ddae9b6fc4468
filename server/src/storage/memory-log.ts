/**
 * An in-memory LogStore for simulation and tests. A MemoryLogDisk stands for a data directory: it
 * outlives the store, so a simulated restart reopens the same disk and recovers what was durable.
 */
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { checkHardState } from './codec.js';
import { WalClosedError } from './errors.js';
import { LogReplay, checkAppend, checkSnapshotMarker, copySnapshotMeta, type LogStore, type RecoveredLog } from './log-store.js';

export class MemoryLogDisk {
  /** the durable content, in the form recovery produces */
  readonly log = new LogReplay();
  /** when set, every write fails with this error (a full or broken disk) until it is cleared */
  failure: Error | undefined;
}

/** Every call is durable as soon as it resolves; a write that fails changes nothing. */
export class MemoryLogStore implements LogStore {
  private closed = false;

  private constructor(readonly disk: MemoryLogDisk) {}

  static async open(disk: MemoryLogDisk = new MemoryLogDisk()): Promise<{ wal: MemoryLogStore; recovered: RecoveredLog }> {
    const recovered = disk.log.recovered();
    recovered.entries = recovered.entries.map((entry) => ({ ...entry, data: entry.data.slice() }));
    return { wal: new MemoryLogStore(disk), recovered };
  }

  async append(entries: readonly Entry[], hardState?: HardState): Promise<void> {
    this.checkWritable();
    checkAppend(this.disk.log.position, entries);
    if (hardState) checkHardState(hardState);
    for (const entry of entries) this.disk.log.entry({ ...entry, data: entry.data.slice() });
    if (hardState) this.disk.log.hardState = { ...hardState };
  }

  async saveSnapshotMarker(meta: SnapshotMeta): Promise<void> {
    this.checkWritable();
    checkSnapshotMarker(this.disk.log.position, meta);
    this.disk.log.snapshot = copySnapshotMeta(meta);
  }

  async releaseBefore(index: number): Promise<void> {
    this.checkWritable();
    this.disk.log.dropBefore(Math.min(index, this.disk.log.position.snapshotIndex + 1));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkWritable(): void {
    if (this.closed) throw new WalClosedError('the memory log is closed');
    if (this.disk.failure) throw this.disk.failure;
  }
}
