/**
 * The client's side of watches: which callbacks wait on which paths, how one event from the server
 * is dispatched to all of them (ZooKeeper's rules), and what to restore after a reconnect.
 */
import type { WatchEvent, Watcher } from './types.js';

type Table = Map<string, Set<Watcher>>;

function add(table: Table, path: string, watcher: Watcher): void {
  let set = table.get(path);
  if (set === undefined) table.set(path, (set = new Set()));
  set.add(watcher);
}

function take(table: Table, path: string, into: Set<Watcher>): void {
  const set = table.get(path);
  if (set === undefined) return;
  table.delete(path);
  for (const w of set) into.add(w);
}

function copy(table: Table, path: string, into: Set<Watcher>): void {
  const set = table.get(path);
  if (set !== undefined) for (const w of set) into.add(w);
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export type PersistentMode = 'persistent' | 'recursive';

export class ClientWatches {
  /** one-shot, set by getData, or by exists on a node that exists */
  private readonly data: Table = new Map();
  /** one-shot, set by exists on a node that does not exist */
  private readonly exist: Table = new Map();
  /** one-shot, set by getChildren */
  private readonly child: Table = new Map();
  private readonly persistent: Table = new Map();
  private readonly recursive: Table = new Map();

  addData(path: string, w: Watcher): void {
    add(this.data, path, w);
  }
  addExist(path: string, w: Watcher): void {
    add(this.exist, path, w);
  }
  addChild(path: string, w: Watcher): void {
    add(this.child, path, w);
  }
  addPersistent(mode: PersistentMode, path: string, w: Watcher): void {
    add(mode === 'persistent' ? this.persistent : this.recursive, path, w);
  }

  /** Removes a persistent watcher; true when no watcher of that mode is left on the path. */
  removePersistent(mode: PersistentMode, path: string, w: Watcher): boolean {
    const table = mode === 'persistent' ? this.persistent : this.recursive;
    const set = table.get(path);
    if (set === undefined) return true;
    set.delete(w);
    if (set.size > 0) return false;
    table.delete(path);
    return true;
  }

  /** Delivers a server event to every matching callback, each once. */
  dispatch(event: WatchEvent): void {
    const targets = new Set<Watcher>();
    const { type, path } = event;
    switch (type) {
      case 'NODE_CREATED':
      case 'NODE_DATA_CHANGED':
        take(this.data, path, targets);
        take(this.exist, path, targets);
        break;
      case 'NODE_DELETED':
        take(this.data, path, targets);
        take(this.exist, path, targets);
        take(this.child, path, targets);
        break;
      case 'NODE_CHILDREN_CHANGED':
        take(this.child, path, targets);
        break;
      case 'WATCH_RESET':
        copy(this.recursive, path, targets);
        break;
    }
    copy(this.persistent, path, targets);
    if (type !== 'NODE_CHILDREN_CHANGED' && type !== 'WATCH_RESET' && this.recursive.size > 0) {
      for (let p = path; ; p = parentOf(p)) {
        copy(this.recursive, p, targets);
        if (p === '/') break;
      }
    }
    for (const w of targets) {
      try {
        w(event);
      } catch {
        // A watcher's own failure must not stop the others or the session.
      }
    }
  }

  /** What to ask the server to restore after reconnecting (SetWatches). */
  toRestore(relativeZxid: number) {
    return {
      relativeZxid,
      dataWatches: [...this.data.keys()],
      existWatches: [...this.exist.keys()],
      childWatches: [...this.child.keys()],
      persistentWatches: [...this.persistent.keys()],
      persistentRecursiveWatches: [...this.recursive.keys()],
    };
  }

  get empty(): boolean {
    return this.data.size + this.exist.size + this.child.size + this.persistent.size + this.recursive.size === 0;
  }
}
