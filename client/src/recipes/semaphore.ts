/**
 * A counting semaphore: at most `maxLeases` holders at once (Curator's InterProcessSemaphoreV2).
 * Waiters queue on an internal mutex (`<path>/locks`, each watching only its predecessor); the one
 * at its head creates its lease node under `<path>/leases` and, while there are too many leases,
 * is the only client watching that list. So a release wakes exactly one waiter, in arrival order.
 * The fencing token is the czxid of the lease node: unique, and increasing in the order granted.
 *
 *   const pool = new Semaphore(client, '/semaphores/db', 5);
 *   const lease = await pool.acquire();
 *   try { await query({ fencingToken: lease.token }); } finally { await lease.release(); }
 */
import { NoNodeError, TimeoutError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import type { Watcher } from '../types.js';
import {
  createProtected,
  deadline,
  deleteQuietly,
  Holding,
  isTimeout,
  joinPath,
  retry,
  sortBySequence,
  validateDir,
  waitForWatch,
  type CreatedNode,
} from './internal.js';
import { defaultParticipantId, Mutex, readParticipants, type AcquireOptions, type LockOptions, type Participant } from './lock.js';

export interface SemaphoreLease {
  /** fencing token: the czxid of the lease node */
  readonly token: number;
  readonly path: string;
  /** aborts when the lease is lost (its node deleted, or the session over) */
  readonly signal: AbortSignal;
  /** Gives the lease back (idempotent). */
  release(): Promise<void>;
}

export class Semaphore {
  private readonly leasesPath: string;
  private readonly locksPath: string;

  constructor(
    private readonly client: Conclave,
    readonly path: string,
    readonly maxLeases: number,
    private readonly options: LockOptions = {},
  ) {
    validateDir(path, 'a semaphore path');
    if (!Number.isInteger(maxLeases) || maxLeases < 1) throw new RangeError(`maxLeases must be a positive integer, not ${maxLeases}`);
    this.leasesPath = joinPath(path, 'leases');
    this.locksPath = joinPath(path, 'locks');
  }

  /** Waits for a lease. */
  async acquire(options: AcquireOptions = {}): Promise<SemaphoreLease> {
    return (await this.take(options, true, false))!;
  }

  /** A lease if one is free now (or within `timeoutMs`), else null. */
  async tryAcquire(options: AcquireOptions = {}): Promise<SemaphoreLease | null> {
    return (await this.take(options, options.timeoutMs !== undefined, true)) ?? null;
  }

  /** The current lease holders, oldest first. */
  async holders(): Promise<Participant[]> {
    const names = await retry(this.client, () => this.leaseNames()).catch((error) => {
      if (error instanceof NoNodeError) return [] as string[];
      throw error;
    });
    return readParticipants(this.client, this.leasesPath, names);
  }

  private async leaseNames(watch?: Watcher): Promise<string[]> {
    return sortBySequence(await this.client.getChildren(this.leasesPath, watch ? { watch } : {}));
  }

  private async take(options: AcquireOptions, wait: boolean, quiet: boolean): Promise<SemaphoreLease | undefined> {
    const signal = deadline(options.signal, options.timeoutMs);
    const gate = new Mutex(this.client, this.locksPath, this.options);
    let node: CreatedNode | undefined;
    try {
      if (wait) await gate.acquire({ signal });
      else if (!(await gate.tryAcquire())) return undefined;
      try {
        node = await createProtected(this.client, this.leasesPath, 'lease-', this.options.id ?? defaultParticipantId(), 'EPHEMERAL_SEQUENTIAL', { signal });
        for (;;) {
          if ((await retry(this.client, () => this.leaseNames(), signal)).length <= this.maxLeases) break;
          if (!wait) {
            await deleteQuietly(this.client, node.path);
            return undefined;
          }
          await waitForWatch(this.client, async (watcher) => (await this.leaseNames(watcher)).length > this.maxLeases, signal);
        }
      } finally {
        await gate.release();
      }
    } catch (error) {
      if (node !== undefined) await deleteQuietly(this.client, node.path).catch(() => undefined);
      if (isTimeout(error)) {
        if (quiet) return undefined;
        throw new TimeoutError(`${this.path}: no lease within ${options.timeoutMs} ms`, { path: this.path });
      }
      throw error;
    }
    return this.lease(node);
  }

  private lease(node: CreatedNode): SemaphoreLease {
    const holding = new Holding(this.client, node.path, false);
    let released = false;
    return {
      token: node.czxid,
      path: node.path,
      signal: holding.signal,
      release: async () => {
        if (released) return;
        released = true;
        holding.stop();
        await deleteQuietly(this.client, node.path);
      },
    };
  }
}
