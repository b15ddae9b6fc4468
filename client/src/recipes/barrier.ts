/**
 * Barriers. Barrier (Curator's DistributedBarrier): while its node exists, wait() blocks; removing
 * the node lets every waiter through. DoubleBarrier (ZooKeeper's recipe, Curator's
 * DistributedDoubleBarrier): enter() blocks until `count` participants have entered; leave()
 * blocks until all of them have left. Leaving is herd-free: each participant watches one node.
 *
 *   const barrier = new DoubleBarrier(client, '/barriers/round-7', 5);
 *   await barrier.enter();   // all 5 are here
 *   await compute();
 *   await barrier.leave();   // all 5 are done
 *
 * A double barrier is for one round: use a fresh path per round.
 */
import { NodeExistsError, NoNodeError, TimeoutError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import { deadline, deleteQuietly, isRetryable, isTimeout, joinPath, newGuid, retry, sleep, validateDir, waitForDeletion, waitForWatch } from './internal.js';

export interface WaitOptions {
  signal?: AbortSignal;
  /** give up after this many ms (a TimeoutError) */
  timeoutMs?: number;
}

async function withTimeout<T>(what: string, options: WaitOptions, run: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  try {
    return await run(deadline(options.signal, options.timeoutMs));
  } catch (error) {
    if (isTimeout(error)) throw new TimeoutError(`${what}: not done within ${options.timeoutMs} ms`);
    throw error;
  }
}

export class Barrier {
  constructor(
    private readonly client: Conclave,
    readonly path: string,
  ) {
    validateDir(path, 'a barrier path');
  }

  /** Raises the barrier (waiters block until it is removed). */
  async set(): Promise<void> {
    await retry(this.client, () => this.client.mkdirp(this.path));
  }

  /** Removes the barrier: every waiter goes on. */
  async remove(): Promise<void> {
    await deleteQuietly(this.client, this.path);
  }

  /** Waits while the barrier is up. */
  wait(options: WaitOptions = {}): Promise<void> {
    return withTimeout(this.path, options, async (signal) => {
      while ((await retry(this.client, () => this.client.exists(this.path), signal)) !== null) {
        await waitForDeletion(this.client, this.path, signal);
      }
    });
  }
}

const READY = 'ready';

export class DoubleBarrier {
  private readonly ours: string;
  private readonly readyPath: string;

  constructor(
    private readonly client: Conclave,
    readonly path: string,
    readonly count: number,
    options: { id?: string } = {},
  ) {
    validateDir(path, 'a barrier path');
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, not ${count}`);
    const id = options.id ?? newGuid();
    if (id === READY || id.includes('/')) throw new TypeError(`bad participant id ${JSON.stringify(id)}`);
    this.ours = joinPath(path, id);
    this.readyPath = joinPath(path, READY);
  }

  /** Joins, and waits until `count` participants have joined. */
  enter(options: WaitOptions = {}): Promise<void> {
    return withTimeout(`${this.path} enter`, options, async (signal) => {
      try {
        await this.waitForAll(signal);
      } catch (error) {
        // Given up: no longer a participant that the others would count.
        await deleteQuietly(this.client, this.ours).catch(() => undefined);
        throw error;
      }
    });
  }

  /** Joins, then waits for the ready flag, raising it once `count` participants are in. */
  private async waitForAll(signal: AbortSignal | undefined): Promise<void> {
    await this.createOurs(signal);
    for (;;) {
      let ready = false;
      await waitForWatch(this.client, async (watcher) => {
        if ((await this.client.exists(this.readyPath, { watch: watcher })) !== null) {
          ready = true;
          return false;
        }
        const present = (await this.client.getChildren(this.path)).filter((c) => c !== READY).length;
        if (present < this.count) return true;
        await this.client.create(this.readyPath).catch((error) => {
          if (!(error instanceof NodeExistsError)) throw error;
        });
        ready = true;
        return false;
      }, signal);
      if (ready) return;
    }
  }

  /** Leaves, and waits until every participant has left. */
  leave(options: WaitOptions = {}): Promise<void> {
    return withTimeout(`${this.path} leave`, options, async (signal) => {
      const name = this.ours.slice(this.path.length + 1);
      for (;;) {
        const children = (await retry(this.client, () => this.client.getChildren(this.path), signal).catch((error) => {
          if (error instanceof NoNodeError) return [] as string[];
          throw error;
        })).filter((c) => c !== READY).sort();
        if (children.length === 0) return;
        const index = children.indexOf(name);
        if (children.length === 1 && index === 0) {
          // The last one out takes the ready flag down.
          await deleteQuietly(this.client, this.ours);
          await deleteQuietly(this.client, this.readyPath);
          return;
        }
        if (index === 0) {
          // The lowest waits for the highest, and leaves last.
          await waitForDeletion(this.client, joinPath(this.path, children[children.length - 1]!), signal);
          continue;
        }
        if (index > 0) await deleteQuietly(this.client, this.ours);
        await waitForDeletion(this.client, joinPath(this.path, children[0]!), signal);
      }
    });
  }

  /** Our ephemeral node (a retried create that finds it already ours is fine). */
  private async createOurs(signal: AbortSignal | undefined): Promise<void> {
    for (let n = 0; ; n++) {
      signal?.throwIfAborted();
      try {
        await this.client.create(this.ours, undefined, { kind: 'EPHEMERAL' });
        return;
      } catch (error) {
        if (error instanceof NoNodeError) {
          await retry(this.client, () => this.client.mkdirp(this.path, { kind: 'CONTAINER' }), signal);
        } else if (error instanceof NodeExistsError) {
          const stat = await retry(this.client, () => this.client.exists(this.ours), signal);
          if (stat?.ephemeralOwner === this.client.sessionId) return;
          if (stat !== null) throw new NodeExistsError(`${this.ours}: another participant uses this id`, { path: this.ours });
        } else if (isRetryable(error)) {
          await sleep(Math.min(1_000, 25 * 2 ** Math.min(n, 6)), signal);
        } else {
          throw error;
        }
      }
    }
  }
}
