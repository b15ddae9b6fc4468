/**
 * Distributed queues (Curator's DistributedQueue and DistributedPriorityQueue, kazoo's Queue):
 * items are persistent sequential nodes under the queue's path, taken in sequence order (or by
 * priority, then sequence).
 *
 * Exactly once, through connection loss: put() names its node with a GUID, so that a put whose
 * outcome is unknown finds its own node instead of adding the item twice; take() moves the item
 * into a claim node named after the taker and the item in one multi (delete the item + create the
 * claim), so that a take whose outcome is unknown can tell (once the session's writes are settled)
 * whether the item became its own. Claims are TTL nodes the server reaps once `claimRetentionMs`
 * has passed: while one is kept, a put whose outcome was unknown and whose item was taken meanwhile
 * finds the item's GUID among the claims. A put that stays unsettled for longer than that (a
 * producer cut off from every member that long while its session lives) could add its item again.
 * A consumer that dies after take() returns loses that item (as with any queue that hands items
 * out), but the queue itself loses none.
 *
 *   const queue = new DistributedQueue(client, '/queues/jobs');
 *   await queue.put(JSON.stringify(job));
 *   const next = await queue.take();   // waits for an item
 */
import { BadVersionError, NodeExistsError, NoNodeError, TimeoutError, type ConclaveError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import type { Data, Watcher } from '../types.js';
import { createProtected, deadline, isRetryable, isTimeout, joinPath, newGuid, retry, protectedPrefix, sequenceOf, settle, sleep, validateDir, waitForWatch, type CreatedNode } from './internal.js';

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

export interface QueueOptions {
  /** how long a taken item's claim is kept (default 60 s): see the note on put() above */
  claimRetentionMs?: number;
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
  private readonly claimRetentionMs: number;

  constructor(
    protected readonly client: Conclave,
    readonly path: string,
    options: QueueOptions = {},
  ) {
    validateDir(path, 'a queue path');
    this.claimsPath = joinPath(path, CLAIMS);
    this.claimRetentionMs = options.claimRetentionMs ?? 60_000;
    if (!Number.isInteger(this.claimRetentionMs) || this.claimRetentionMs <= 0) throw new RangeError(`claimRetentionMs must be a positive integer, not ${options.claimRetentionMs}`);
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
    const findElsewhere = (guid: string) => this.findClaim(guid);
    return (await createProtected(this.client, this.path, name, data, 'PERSISTENT_SEQUENTIAL', { dirKind: 'PERSISTENT', findElsewhere })).name;
  }

  /** The item of this GUID if a taker claimed it already: its name, and the claim's stat. */
  private async findClaim(guid: string): Promise<CreatedNode | undefined> {
    const marker = `-${protectedPrefix(guid)}`;
    let claims: string[];
    try {
      claims = await retry(this.client, () => this.client.getChildren(this.claimsPath));
    } catch (error) {
      if (error instanceof NoNodeError) return undefined;
      throw error;
    }
    const claim = claims.find((c) => c.includes(marker));
    if (claim === undefined) return undefined;
    const name = claim.slice(claim.indexOf(marker) + 1);
    const stat = await retry(this.client, () => this.client.exists(joinPath(this.claimsPath, claim)));
    return { path: joinPath(this.path, name), name, czxid: stat?.czxid ?? 0, guid };
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
          { op: 'create', path: claimPath, kind: 'PERSISTENT_WITH_TTL', ttlMs: this.claimRetentionMs },
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
