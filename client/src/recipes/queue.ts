/**
 * Distributed queues (Curator's DistributedQueue and DistributedPriorityQueue, kazoo's Queue):
 * items are persistent sequential nodes under the queue's path, taken in sequence order (or by
 * priority, then sequence).
 *
 * Exactly once, through connection loss: put() names its node with a GUID, so that a put whose
 * outcome is unknown finds its own node instead of adding the item twice; take() moves the item
 * into a claim node named after the taker in one multi (delete the item + create the claim), so
 * that a take whose outcome is unknown can tell (once the session's writes are settled) whether
 * the item became its own. The claim is
 * ephemeral and deleted once take() has the data: a consumer that dies after take() returns loses
 * that item (as with any queue that hands items out), but the queue itself never loses or
 * duplicates one.
 *
 *   const queue = new DistributedQueue(client, '/queues/jobs');
 *   await queue.put(JSON.stringify(job));
 *   const next = await queue.take();   // waits for an item
 */
import { BadVersionError, NodeExistsError, NoNodeError, TimeoutError, type ConclaveError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import type { Data, Watcher } from '../types.js';
import { createProtected, deadline, deleteQuietly, isRetryable, isTimeout, joinPath, newGuid, retry, sequenceOf, settle, sleep, validateDir, waitForWatch } from './internal.js';

const CLAIMS = '.claims';
const ITEM = /^_c_[0-9a-f]{32}-item-(?:(\d{10})-)?(\d{10})$/;

/** Priorities as fixed-width names that sort numerically: lower values are taken first. */
export function priorityKey(priority: number): string {
  if (!Number.isInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31) throw new RangeError(`priority must be a 32-bit integer, not ${priority}`);
  return String(priority + 2 ** 31).padStart(10, '0');
}

/** Item names in the order they are taken: by priority (when present), then sequence. */
export function itemOrder(names: string[]): string[] {
  const items = names.map((name) => ({ name, m: ITEM.exec(name) })).filter((x) => x.m !== null);
  return items
    .sort((a, b) => Number(a.m![1] ?? 0) - Number(b.m![1] ?? 0) || sequenceOf(a.name) - sequenceOf(b.name))
    .map((x) => x.name);
}

export interface TakeOptions {
  signal?: AbortSignal;
  /** give up after this many ms (a TimeoutError) */
  timeoutMs?: number;
}

export class DistributedQueue {
  /** names this taker's claims */
  private readonly taker = newGuid();
  private readonly claimsPath: string;

  constructor(
    protected readonly client: Conclave,
    readonly path: string,
  ) {
    validateDir(path, 'a queue path');
    this.claimsPath = joinPath(path, CLAIMS);
  }

  /** Adds an item; resolves with its node name. */
  async put(data: Data): Promise<string> {
    return this.putItem(data, 'item-');
  }

  /** Takes the next item, waiting for one if the queue is empty. */
  async take(options: TakeOptions = {}): Promise<Buffer> {
    const signal = deadline(options.signal, options.timeoutMs);
    try {
      for (;;) {
        const item = await this.takeOne(signal);
        if (item !== undefined) return item;
        // Empty: wait for the children to change (one watch per taker, set only when empty).
        await waitForWatch(this.client, async (watcher) => itemOrder(await this.children(watcher)).length === 0, signal);
      }
    } catch (error) {
      if (isTimeout(error)) throw new TimeoutError(`${this.path}: no item within ${options.timeoutMs} ms`, { path: this.path });
      throw error;
    }
  }

  /** Takes the next item if there is one, without waiting. */
  async poll(): Promise<Buffer | null> {
    return (await this.takeOne(undefined)) ?? null;
  }

  /** The next item without taking it, or null. */
  async peek(): Promise<Buffer | null> {
    for (const name of itemOrder(await retry(this.client, () => this.children()))) {
      try {
        return (await retry(this.client, () => this.client.get(joinPath(this.path, name)))).data;
      } catch (error) {
        if (!(error instanceof NoNodeError)) throw error;
      }
    }
    return null;
  }

  /** How many items are waiting. */
  async size(): Promise<number> {
    return itemOrder(await retry(this.client, () => this.children())).length;
  }

  protected async putItem(data: Data, name: string): Promise<string> {
    return (await createProtected(this.client, this.path, name, data, 'PERSISTENT_SEQUENTIAL', undefined, 'PERSISTENT')).name;
  }

  private async children(watch?: Watcher): Promise<string[]> {
    try {
      return await this.client.getChildren(this.path, watch ? { watch } : {});
    } catch (error) {
      if (!(error instanceof NoNodeError)) throw error;
      await this.client.mkdirp(this.path);
      return [];
    }
  }

  /** One pass over the items in order; the first one claimed, or undefined when none could be. */
  private async takeOne(signal: AbortSignal | undefined): Promise<Buffer | undefined> {
    for (const name of itemOrder(await retry(this.client, () => this.children(), signal))) {
      const data = await this.claim(name, signal);
      if (data !== undefined) return data;
    }
    return undefined;
  }

  /** Moves one item into our claim; its data if we got it, undefined if another taker did. */
  private async claim(name: string, signal: AbortSignal | undefined): Promise<Buffer | undefined> {
    const itemPath = joinPath(this.path, name);
    const claimPath = joinPath(this.claimsPath, `${this.taker}-${name}`);
    for (let n = 0; ; n++) {
      let got;
      try {
        got = await retry(this.client, () => this.client.get(itemPath), signal);
      } catch (error) {
        if (error instanceof NoNodeError) return undefined;
        throw error;
      }
      try {
        await this.client.multi([
          { op: 'delete', path: itemPath, version: got.stat.version },
          { op: 'create', path: claimPath, data: got.data, kind: 'EPHEMERAL' },
        ]);
      } catch (error) {
        const e = error as ConclaveError;
        if ((e instanceof NoNodeError || e instanceof BadVersionError) && e.opIndex === 0) return undefined;
        if (e instanceof NoNodeError && e.opIndex === 1) {
          await retry(this.client, () => this.client.mkdirp(this.claimsPath), signal);
          continue;
        }
        if (!(isRetryable(e) || (e instanceof NodeExistsError && e.opIndex === 1))) throw error;
        // Unknown outcome: once settled, the claim node tells whether the item became ours. Not
        // cut short by `signal`: the item would be lost if it was ours and we walked away.
        await sleep(Math.min(1_000, 25 * 2 ** Math.min(n, 6)));
        await settle(this.client);
        if ((await retry(this.client, () => this.client.exists(claimPath))) === null) continue;
      }
      await deleteQuietly(this.client, claimPath);
      return got.data;
    }
  }
}

/** A queue whose items are taken lowest priority value first, then in the order put. */
export class DistributedPriorityQueue extends DistributedQueue {
  /** Adds an item with `priority` (a 32-bit integer; lower is taken first). */
  override async put(data: Data, priority = 0): Promise<string> {
    return this.putItem(data, `item-${priorityKey(priority)}-`);
  }
}
