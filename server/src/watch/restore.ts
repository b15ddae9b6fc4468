/**
 * Restores a client's watches after it reconnects with the last zxid it saw (ZooKeeper's SetWatches,
 * made exact): the changes the client missed are replayed from the event history through the same
 * trigger rules as live events, in zxid order, and the watches still armed afterwards are registered.
 * Without enough history, one-shot watches fall back to ZooKeeper's comparison against the tree, and
 * persistent watches get a WATCH_RESET event (the client must re-read; the watch stays registered).
 */
import type { DataTree } from '../tree/tree.js';
import type { EventHistory } from './history.js';
import { WatchRegistry, type WatchKind, type Watcher } from './registry.js';

export interface WatchesToRestore {
  relativeZxid: number;
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
  persistentWatches: string[];
  persistentRecursiveWatches: string[];
}

export function restoreWatches(
  request: WatchesToRestore,
  watcher: Watcher,
  registry: WatchRegistry,
  tree: DataTree,
  history: EventHistory,
  appliedZxid: number,
): void {
  const rel = request.relativeZxid;
  if (history.covers(rel)) {
    const pending = new WatchRegistry();
    const arm = (kind: WatchKind, paths: string[]) => {
      for (const path of paths) pending.add(kind, path, watcher);
    };
    arm('data', request.dataWatches);
    arm('data', request.existWatches);
    arm('child', request.childWatches);
    arm('persistent', request.persistentWatches);
    arm('recursive', request.persistentRecursiveWatches);
    for (const change of history.since(rel)) pending.trigger(change);
    const still = pending.watchesOf(watcher);
    for (const kind of ['data', 'child', 'persistent', 'recursive'] as const) {
      for (const path of still[kind]) registry.add(kind, path, watcher);
    }
    return;
  }
  for (const path of request.dataWatches) {
    const node = tree.get(path);
    if (node === undefined) watcher.deliver({ type: 'NODE_DELETED', path, zxid: appliedZxid });
    else if (node.mzxid > rel) watcher.deliver({ type: 'NODE_DATA_CHANGED', path, zxid: node.mzxid });
    else registry.add('data', path, watcher);
  }
  for (const path of request.existWatches) {
    const node = tree.get(path);
    if (node !== undefined) watcher.deliver({ type: 'NODE_CREATED', path, zxid: node.czxid });
    else registry.add('data', path, watcher);
  }
  for (const path of request.childWatches) {
    const node = tree.get(path);
    if (node === undefined) watcher.deliver({ type: 'NODE_DELETED', path, zxid: appliedZxid });
    else if (node.pzxid > rel) watcher.deliver({ type: 'NODE_CHILDREN_CHANGED', path, zxid: node.pzxid });
    else registry.add('child', path, watcher);
  }
  for (const [kind, paths] of [['persistent', request.persistentWatches], ['recursive', request.persistentRecursiveWatches]] as const) {
    for (const path of paths) {
      watcher.deliver({ type: 'WATCH_RESET', path, zxid: appliedZxid });
      registry.add(kind, path, watcher);
    }
  }
}
