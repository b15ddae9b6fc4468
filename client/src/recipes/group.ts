/**
 * Group membership (Curator's GroupMember, kazoo's Party): each member is an ephemeral node
 * `<path>/<id>` holding its data, so it leaves the group when its session ends; anyone can list
 * the members or follow them through a cache.
 *
 *   const me = new GroupMember(client, '/groups/workers', 'worker-7', '10.0.0.7:8080');
 *   await me.join();
 *   const stop = await new Group(client, '/groups/workers').watch((members) => rebalance(members));
 */
import { NodeExistsError, NoNodeError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import type { Data } from '../types.js';
import { TreeCache } from './cache.js';
import { deleteQuietly, Holding, isRetryable, joinPath, retry, sleep, validateDir } from './internal.js';

export class GroupMember {
  readonly nodePath: string;
  private holding: Holding | undefined;

  constructor(
    private readonly client: Conclave,
    readonly path: string,
    readonly id: string,
    private data: Data = '',
  ) {
    validateDir(path, 'a group path');
    if (!id || id.includes('/')) throw new TypeError(`bad member id ${JSON.stringify(id)}`);
    this.nodePath = joinPath(path, id);
  }

  /** Aborts when membership is lost (the session ended or the node was deleted); undefined before join(). */
  get signal(): AbortSignal | undefined {
    return this.holding?.signal;
  }

  /** Joins (creates the member node); fails with NodeExistsError if another session uses this id. */
  async join(): Promise<void> {
    for (let n = 0; ; n++) {
      try {
        await this.client.create(this.nodePath, this.data, { kind: 'EPHEMERAL' });
        break;
      } catch (error) {
        if (error instanceof NoNodeError) {
          await retry(this.client, () => this.client.mkdirp(this.path));
        } else if (error instanceof NodeExistsError) {
          // Ours when a create whose outcome was unknown did apply.
          const stat = await retry(this.client, () => this.client.exists(this.nodePath));
          if (stat?.ephemeralOwner === this.client.sessionId) break;
          if (stat !== null) throw new NodeExistsError(`${this.nodePath}: another session is a member with id ${this.id}`, { path: this.nodePath });
        } else if (isRetryable(error)) {
          await sleep(Math.min(1_000, 25 * 2 ** Math.min(n, 6)));
        } else {
          throw error;
        }
      }
    }
    this.holding?.stop();
    this.holding = new Holding(this.client, this.nodePath, false);
  }

  /** Changes this member's data. */
  async update(data: Data): Promise<void> {
    this.data = data;
    await retry(this.client, () => this.client.set(this.nodePath, data));
  }

  /** Leaves the group. */
  async leave(): Promise<void> {
    this.holding?.stop();
    this.holding = undefined;
    await deleteQuietly(this.client, this.nodePath);
  }
}

export class Group {
  constructor(
    private readonly client: Conclave,
    readonly path: string,
  ) {
    validateDir(path, 'a group path');
  }

  /** The members now: id -> data. */
  async members(): Promise<Map<string, Buffer>> {
    let ids: string[];
    try {
      ids = await retry(this.client, () => this.client.getChildren(this.path));
    } catch (error) {
      if (error instanceof NoNodeError) return new Map();
      throw error;
    }
    const found = await Promise.all(ids.map((id) => retry(this.client, () => this.client.get(joinPath(this.path, id))).then((r) => [id, r.data] as const, () => undefined)));
    return new Map(found.filter((x): x is readonly [string, Buffer] => x !== undefined));
  }

  /**
   * Calls `listener` with the members now and after every change (join, leave, data update),
   * until the returned function is called. Built on a TreeCache of depth 1.
   */
  async watch(listener: (members: Map<string, Buffer>) => void): Promise<() => Promise<void>> {
    const cache = new TreeCache(this.client, this.path, { maxDepth: 1 });
    const snapshot = () => new Map(cache.children(this.path).map((id) => [id, cache.get(joinPath(this.path, id))!.data] as const));
    let ready = false;
    cache.onEvent((event) => {
      if (event.type === 'initialized') ready = true;
      if (ready && (event.type === 'initialized' || ('node' in event && event.node.path !== this.path))) listener(snapshot());
    });
    await cache.start();
    return () => cache.close();
  }
}
