/**
 * Local caches of a node or a subtree (Curator's CuratorCache / TreeCache / NodeCache), kept up to
 * date by one persistent watch: recursive for a tree, plain for a single node.
 *
 * Each event triggers a read of the node; results are applied only if they are newer than what the
 * cache holds (by czxid, then mzxid), and a deletion leaves a tombstone until the reads issued
 * before it are answered, so that answers arriving in any order never move a node backwards or
 * bring a deleted one back. After a WATCH_RESET (the member could not replay what was missed while
 * disconnected), the whole subtree is read again and the differences reported.
 *
 *   const cache = new TreeCache(client, '/config');
 *   cache.onEvent((e) => e.type !== 'initialized' && console.log(e.type, e.node?.path));
 *   await cache.start();
 *   cache.get('/config/db')?.data.toString();
 */
import { NoNodeError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import type { Stat, WatchEvent } from '../types.js';
import { joinPath, retry } from './internal.js';

export interface CachedNode {
  path: string;
  data: Buffer;
  stat: Stat;
}

export type CacheEvent =
  | { type: 'added' | 'updated' | 'removed'; node: CachedNode }
  /** the first full read is in */
  | { type: 'initialized' }
  /** the cache was resynchronized after a WATCH_RESET; the changes found follow as events */
  | { type: 'reset' };

export interface TreeCacheOptions {
  /** how deep below the root to cache (0: the root only); default unlimited */
  maxDepth?: number;
}

const depthBelow = (root: string, path: string) => (path === root ? 0 : (root === '/' ? path : path.slice(root.length)).split('/').length - 1);

const isNewer = (next: Stat, held: Stat | undefined) => held === undefined || next.czxid > held.czxid || (next.czxid === held.czxid && next.mzxid > held.mzxid);

export class TreeCache {
  private readonly nodes = new Map<string, CachedNode>();
  private readonly kids = new Map<string, Set<string>>();
  /** deleted path -> zxid of the deletion; kept while reads issued before it may still answer */
  private readonly tombstones = new Map<string, number>();
  private readonly listeners = new Set<(event: CacheEvent) => void>();
  private outstanding = 0;
  private removeWatch: (() => Promise<void>) | undefined;
  private resync: Promise<void> | undefined;
  private closed = false;
  private readonly maxDepth: number;

  constructor(
    private readonly client: Conclave,
    readonly root: string,
    options: TreeCacheOptions = {},
  ) {
    this.maxDepth = options.maxDepth ?? Infinity;
  }

  /** Sets the watch, reads the subtree, and resolves when the cache holds it. */
  async start(): Promise<void> {
    this.removeWatch = await this.client.addWatch(this.root, (event) => this.onWatch(event), { recursive: this.maxDepth > 0 });
    await this.load(false);
    this.emit({ type: 'initialized' });
  }

  get(path: string): CachedNode | undefined {
    return this.nodes.get(path);
  }

  /** The names of a cached node's children, sorted. */
  children(path: string): string[] {
    return [...(this.kids.get(path) ?? [])].sort();
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Every cached node. */
  entries(): CachedNode[] {
    return [...this.nodes.values()];
  }

  /** Listens to cache changes; returns the function that stops listening. */
  onEvent(listener: (event: CacheEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.removeWatch?.().catch(() => undefined);
  }

  private emit(event: CacheEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure must not stop the cache.
      }
    }
  }

  private inScope(path: string): boolean {
    return (path === this.root || path.startsWith(this.root === '/' ? '/' : this.root + '/')) && depthBelow(this.root, path) <= this.maxDepth;
  }

  private onWatch(event: WatchEvent): void {
    if (this.closed) return;
    if (event.type === 'WATCH_RESET') {
      this.resync ??= this.load(true).finally(() => (this.resync = undefined));
      return;
    }
    if (!this.inScope(event.path)) return;
    if (event.type === 'NODE_DELETED') this.deleted(event.path, event.zxid);
    else if (event.type === 'NODE_CREATED' || event.type === 'NODE_DATA_CHANGED') void this.refresh(event.path);
  }

  /** Reads one node and applies the answer if it is newer. */
  private async refresh(path: string): Promise<void> {
    this.outstanding++;
    try {
      const { data, stat } = await retry(this.client, () => this.client.get(path));
      this.apply({ path, data, stat });
    } catch {
      // NoNode: gone already, and its NODE_DELETED event does the rest. Anything else: the session is over, and the cache with it.
    } finally {
      if (--this.outstanding === 0) this.tombstones.clear();
    }
  }

  private apply(node: CachedNode): void {
    if (this.closed) return;
    const deletedAt = this.tombstones.get(node.path);
    if (deletedAt !== undefined && node.stat.czxid < deletedAt) return;
    const held = this.nodes.get(node.path);
    if (!isNewer(node.stat, held?.stat)) return;
    this.nodes.set(node.path, node);
    if (node.path !== this.root) {
      const parent = node.path.slice(0, node.path.lastIndexOf('/')) || '/';
      let set = this.kids.get(parent);
      if (set === undefined) this.kids.set(parent, (set = new Set()));
      set.add(node.path.slice(node.path.lastIndexOf('/') + 1));
    }
    this.emit({ type: held === undefined ? 'added' : 'updated', node });
  }

  private deleted(path: string, zxid: number): void {
    if (this.outstanding > 0) this.tombstones.set(path, Math.max(zxid, this.tombstones.get(path) ?? 0));
    const held = this.nodes.get(path);
    if (held !== undefined && held.stat.czxid < zxid) this.remove(path);
  }

  private remove(path: string): void {
    for (const name of this.children(path)) this.remove(joinPath(path, name));
    const held = this.nodes.get(path);
    if (held === undefined) return;
    this.nodes.delete(path);
    this.kids.delete(path);
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    this.kids.get(parent)?.delete(path.slice(path.lastIndexOf('/') + 1));
    this.emit({ type: 'removed', node: held });
  }

  /**
   * Reads the whole subtree (pipelined). On a resync, nodes that existed before it began and were
   * not found are removed: they were deleted while the watch could not report it.
   */
  private async load(resync: boolean): Promise<void> {
    if (resync) this.emit({ type: 'reset' });
    const startZxid = this.client.lastZxid;
    const seen = new Set<string>();
    const walk = async (path: string): Promise<void> => {
      this.outstanding++;
      try {
        const [{ data, stat }, children] = await Promise.all([
          retry(this.client, () => this.client.get(path)),
          depthBelow(this.root, path) < this.maxDepth ? retry(this.client, () => this.client.getChildren(path)) : Promise.resolve([] as string[]),
        ]);
        seen.add(path);
        this.apply({ path, data, stat });
        await Promise.all(children.map((name) => walk(joinPath(path, name))));
      } catch (error) {
        if (!(error instanceof NoNodeError)) throw error;
      } finally {
        if (--this.outstanding === 0) this.tombstones.clear();
      }
    };
    await walk(this.root);
    if (!resync) return;
    for (const node of [...this.nodes.values()]) {
      if (!seen.has(node.path) && node.stat.czxid <= startZxid && this.nodes.has(node.path)) this.remove(node.path);
    }
  }
}

/** A cache of one node (Curator's NodeCache): its data and stat, or undefined while it does not exist. */
export class NodeCache {
  private readonly tree: TreeCache;

  constructor(client: Conclave, readonly path: string) {
    this.tree = new TreeCache(client, path, { maxDepth: 0 });
  }

  start(): Promise<void> {
    return this.tree.start();
  }

  get current(): CachedNode | undefined {
    return this.tree.get(this.path);
  }

  /** Calls `listener` with the node (undefined once deleted) after each change. */
  onChange(listener: (node: CachedNode | undefined) => void): () => void {
    return this.tree.onEvent((event) => {
      if (event.type === 'added' || event.type === 'updated') listener(event.node);
      else if (event.type === 'removed') listener(undefined);
    });
  }

  close(): Promise<void> {
    return this.tree.close();
  }
}
