import type { SystemName } from '../drivers/index.js';

export interface MemoryReading {
  rssBytes: number;
  /** live heap where the runtime tells it (JVM after a full GC; V8 heap used + external memory; Go heap alloc) */
  heapBytes?: number;
}

/** A 3-member cluster of one system, run as local processes on loopback. */
export interface Cluster {
  readonly system: SystemName;
  readonly version: string;
  /** ids of the members, running or not */
  ids(): number[];
  /** "127.0.0.1:port" of a member's client port */
  endpoint(id: number): string;
  start(): Promise<void>;
  /** stops every member (SIGTERM, then SIGKILL) and deletes the data */
  stop(): Promise<void>;
  leader(): Promise<number>;
  /** kill -9; resolves when the process is gone */
  kill(id: number): Promise<void>;
  /** starts a stopped member again on its data; returns the spawn time (performance.now()) */
  restart(id: number): Promise<number>;
  pid(id: number): number;
  memory(id: number): Promise<MemoryReading>;
  /**
   * Replaces follower `id` by a member with an empty data directory that must catch up from the
   * leader (see README.md for how each system does it); returns the new member's id and spawn time.
   */
  replaceWithEmpty(id: number, beforeStart: () => Promise<void>): Promise<{ id: number; spawnedAt: number; how: string }>;
  /** a line of the member's log that tells how it caught up, if any */
  catchUpNote(id: number): string;
}
