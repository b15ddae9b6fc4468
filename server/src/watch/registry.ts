/**
 * The watch registry of one member (watches are never replicated): one-shot data and child watches,
 * persistent and persistent-recursive watches, triggered by the changes the state machine returns
 * when it applies a transaction, in apply (zxid) order. Trigger rules are ZooKeeper's:
 *
 *   change                 one-shot data   one-shot child   persistent    recursive (self or ancestor)
 *   NODE_CREATED(p)        p               -                p             yes
 *   NODE_DELETED(p)        p               p                p             yes
 *   NODE_DATA_CHANGED(p)   p               -                p             yes
 *   NODE_CHILDREN_CHANGED  -               p                p             no
 *
 * A watcher gets one event per change however many of its watches match (unique), and one-shot
 * watches are removed as they fire.
 */
import { parentOf, ROOT } from '../tree/path.js';
import type { WatchChange } from '../fsm/state-machine.js';

export type EventType = WatchChange['type'] | 'WATCH_RESET';

export interface WatchEvent {
  type: EventType;
  path: string;
  zxid: number;
}

/** Whoever receives events: a session stream or a sessionless watch stream. */
export interface Watcher {
  deliver(event: WatchEvent): void;
}

export type WatchKind = 'data' | 'child' | 'persistent' | 'recursive';
export type WatcherType = 'ANY_WATCHER' | 'DATA_WATCHER' | 'CHILD_WATCHER' | 'PERSISTENT_WATCHER' | 'PERSISTENT_RECURSIVE_WATCHER';

class WatchTable {
  private readonly byPath = new Map<string, Set<Watcher>>();
  private readonly byWatcher = new Map<Watcher, Set<string>>();
  count = 0;

  add(path: string, watcher: Watcher): void {
    let watchers = this.byPath.get(path);
    if (watchers === undefined) this.byPath.set(path, (watchers = new Set()));
    if (watchers.has(watcher)) return;
    watchers.add(watcher);
    let paths = this.byWatcher.get(watcher);
    if (paths === undefined) this.byWatcher.set(watcher, (paths = new Set()));
    paths.add(path);
    this.count++;
  }

  has(path: string, watcher: Watcher): boolean {
    return this.byPath.get(path)?.has(watcher) ?? false;
  }

  get(path: string): Set<Watcher> | undefined {
    return this.byPath.get(path);
  }

  remove(path: string, watcher: Watcher): boolean {
    const watchers = this.byPath.get(path);
    if (watchers === undefined || !watchers.delete(watcher)) return false;
    if (watchers.size === 0) this.byPath.delete(path);
    const paths = this.byWatcher.get(watcher)!;
    paths.delete(path);
    if (paths.size === 0) this.byWatcher.delete(watcher);
    this.count--;
    return true;
  }

  /** Removes and returns every watcher on `path` (a one-shot trigger). */
  take(path: string): Set<Watcher> | undefined {
    const watchers = this.byPath.get(path);
    if (watchers === undefined) return undefined;
    this.byPath.delete(path);
    for (const watcher of watchers) {
      const paths = this.byWatcher.get(watcher)!;
      paths.delete(path);
      if (paths.size === 0) this.byWatcher.delete(watcher);
    }
    this.count -= watchers.size;
    return watchers;
  }

  removeWatcher(watcher: Watcher): void {
    const paths = this.byWatcher.get(watcher);
    if (paths === undefined) return;
    for (const path of paths) {
      const watchers = this.byPath.get(path)!;
      watchers.delete(watcher);
      if (watchers.size === 0) this.byPath.delete(path);
    }
    this.count -= paths.size;
    this.byWatcher.delete(watcher);
  }

  pathsOf(watcher: Watcher): ReadonlySet<string> {
    return this.byWatcher.get(watcher) ?? new Set();
  }

  watchers(): Iterable<Watcher> {
    return this.byWatcher.keys();
  }
}

export class WatchRegistry {
  private readonly data = new WatchTable();
  private readonly child = new WatchTable();
  private readonly persistent = new WatchTable();
  private readonly recursive = new WatchTable();

  get count(): number {
    return this.data.count + this.child.count + this.persistent.count + this.recursive.count;
  }

  add(kind: WatchKind, path: string, watcher: Watcher): void {
    this.table(kind).add(path, watcher);
  }

  has(kind: WatchKind, path: string, watcher: Watcher): boolean {
    return this.table(kind).has(path, watcher);
  }

  /** removeWatches: false when the watcher had no watch of that type on `path`. */
  remove(path: string, type: WatcherType, watcher: Watcher): boolean {
    const kinds: WatchKind[] =
      type === 'DATA_WATCHER' ? ['data']
      : type === 'CHILD_WATCHER' ? ['child']
      : type === 'PERSISTENT_WATCHER' ? ['persistent']
      : type === 'PERSISTENT_RECURSIVE_WATCHER' ? ['recursive']
      : ['data', 'child', 'persistent', 'recursive'];
    let removed = false;
    for (const kind of kinds) removed = this.table(kind).remove(path, watcher) || removed;
    return removed;
  }

  /** Drops every watch of a watcher (its session closed or its stream ended). */
  removeWatcher(watcher: Watcher): void {
    this.data.removeWatcher(watcher);
    this.child.removeWatcher(watcher);
    this.persistent.removeWatcher(watcher);
    this.recursive.removeWatcher(watcher);
  }

  /** How many watches a watcher holds (all kinds). */
  countOf(watcher: Watcher): number {
    return (
      this.data.pathsOf(watcher).size +
      this.child.pathsOf(watcher).size +
      this.persistent.pathsOf(watcher).size +
      this.recursive.pathsOf(watcher).size
    );
  }

  /** Every watcher holding at least one watch. */
  watchers(): Watcher[] {
    const all = new Set<Watcher>();
    for (const table of [this.data, this.child, this.persistent, this.recursive]) for (const w of table.watchers()) all.add(w);
    return [...all];
  }

  /** The watches a watcher holds, by kind (for tests and for status). */
  watchesOf(watcher: Watcher): Record<WatchKind, string[]> {
    return {
      data: [...this.data.pathsOf(watcher)],
      child: [...this.child.pathsOf(watcher)],
      persistent: [...this.persistent.pathsOf(watcher)],
      recursive: [...this.recursive.pathsOf(watcher)],
    };
  }

  /** Delivers the events of one change to every matching watcher, once each. */
  trigger(change: WatchChange): void {
    const { type, path, zxid } = change;
    let targets: Set<Watcher> | undefined;
    const addAll = (watchers: Set<Watcher> | undefined) => {
      if (watchers === undefined) return;
      if (targets === undefined) targets = new Set(watchers);
      else for (const w of watchers) targets.add(w);
    };
    if (type === 'NODE_CHILDREN_CHANGED') {
      addAll(this.child.take(path));
      addAll(this.persistent.get(path));
    } else {
      addAll(this.data.take(path));
      if (type === 'NODE_DELETED') addAll(this.child.take(path));
      addAll(this.persistent.get(path));
      if (this.recursive.count > 0) {
        for (let p = path; ; p = parentOf(p)) {
          addAll(this.recursive.get(p));
          if (p === ROOT) break;
        }
      }
    }
    if (targets === undefined) return;
    const event: WatchEvent = { type, path, zxid };
    for (const watcher of targets) watcher.deliver(event);
  }

  private table(kind: WatchKind): WatchTable {
    switch (kind) {
      case 'data':
        return this.data;
      case 'child':
        return this.child;
      case 'persistent':
        return this.persistent;
      case 'recursive':
        return this.recursive;
    }
  }
}
