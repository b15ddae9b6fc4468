/** ClientWatches: ZooKeeper's dispatch rules for one-shot, persistent and recursive watches. */
import assert from 'node:assert/strict';
import { ClientWatches } from '../src/watches.js';
import type { EventType, WatchEvent, Watcher } from '../src/types.js';

const event = (type: EventType, path: string, zxid = 1): WatchEvent => ({ type, path, zxid });

function recorder(): Watcher & { seen: string[] } {
  const seen: string[] = [];
  return Object.assign((e: WatchEvent) => void seen.push(`${e.type} ${e.path}`), { seen });
}

describe('client watches: dispatch', () => {
  it('a data watch fires once, on a change or deletion of its node only', () => {
    const w = new ClientWatches();
    const data = recorder();
    w.addData('/a', data);
    w.dispatch(event('NODE_DATA_CHANGED', '/b'));
    w.dispatch(event('NODE_CHILDREN_CHANGED', '/a'));
    w.dispatch(event('NODE_DATA_CHANGED', '/a'));
    w.dispatch(event('NODE_DATA_CHANGED', '/a'));
    assert.deepEqual(data.seen, ['NODE_DATA_CHANGED /a']);
    w.addData('/a', data);
    w.dispatch(event('NODE_DELETED', '/a'));
    assert.deepEqual(data.seen, ['NODE_DATA_CHANGED /a', 'NODE_DELETED /a']);
    assert.ok(w.empty);
  });

  it('an exists watch on a missing node fires on its creation', () => {
    const w = new ClientWatches();
    const exist = recorder();
    w.addExist('/a', exist);
    w.dispatch(event('NODE_CREATED', '/a'));
    w.dispatch(event('NODE_DELETED', '/a'));
    assert.deepEqual(exist.seen, ['NODE_CREATED /a']);
  });

  it('a child watch fires once on a children change or the deletion of its node, not on data changes', () => {
    const w = new ClientWatches();
    const child = recorder();
    w.addChild('/a', child);
    w.dispatch(event('NODE_DATA_CHANGED', '/a'));
    w.dispatch(event('NODE_CHILDREN_CHANGED', '/a'));
    w.dispatch(event('NODE_CHILDREN_CHANGED', '/a'));
    w.addChild('/a', child);
    w.dispatch(event('NODE_DELETED', '/a'));
    assert.deepEqual(child.seen, ['NODE_CHILDREN_CHANGED /a', 'NODE_DELETED /a']);
  });

  it('a callback registered twice on one path (or by data and child watches) is called once per event', () => {
    const w = new ClientWatches();
    const both = recorder();
    w.addData('/a', both);
    w.addData('/a', both);
    w.addChild('/a', both);
    w.dispatch(event('NODE_DELETED', '/a'));
    assert.deepEqual(both.seen, ['NODE_DELETED /a']);
  });

  it('persistent watches stay and see their node\'s events, children changes included', () => {
    const w = new ClientWatches();
    const p = recorder();
    w.addPersistent('persistent', '/a', p);
    for (const type of ['NODE_CREATED', 'NODE_DATA_CHANGED', 'NODE_CHILDREN_CHANGED', 'NODE_DELETED'] as const) w.dispatch(event(type, '/a'));
    w.dispatch(event('NODE_CREATED', '/a/b'));
    assert.deepEqual(p.seen, ['NODE_CREATED /a', 'NODE_DATA_CHANGED /a', 'NODE_CHILDREN_CHANGED /a', 'NODE_DELETED /a']);
    assert.ok(!w.empty);
  });

  it('recursive watches see their whole subtree, without NODE_CHILDREN_CHANGED; a root watch sees everything', () => {
    const w = new ClientWatches();
    const sub = recorder();
    const root = recorder();
    w.addPersistent('recursive', '/a', sub);
    w.addPersistent('recursive', '/', root);
    w.dispatch(event('NODE_CREATED', '/a/b/c'));
    w.dispatch(event('NODE_CHILDREN_CHANGED', '/a'));
    w.dispatch(event('NODE_DATA_CHANGED', '/ab'));
    w.dispatch(event('NODE_DELETED', '/a'));
    assert.deepEqual(sub.seen, ['NODE_CREATED /a/b/c', 'NODE_DELETED /a']);
    assert.deepEqual(root.seen, ['NODE_CREATED /a/b/c', 'NODE_DATA_CHANGED /ab', 'NODE_DELETED /a']);
  });

  it('WATCH_RESET goes to the persistent and recursive watchers of its path', () => {
    const w = new ClientWatches();
    const rec = recorder();
    const per = recorder();
    const oneShot = recorder();
    w.addPersistent('recursive', '/a', rec);
    w.addPersistent('persistent', '/a', per);
    w.addData('/a', oneShot);
    w.dispatch(event('WATCH_RESET', '/a'));
    assert.deepEqual([rec.seen, per.seen, oneShot.seen], [['WATCH_RESET /a'], ['WATCH_RESET /a'], []]);
  });

  it('removing persistent watchers: true once none of that mode is left on the path', () => {
    const w = new ClientWatches();
    const a = recorder();
    const b = recorder();
    w.addPersistent('recursive', '/x', a);
    w.addPersistent('recursive', '/x', b);
    assert.equal(w.removePersistent('recursive', '/x', a), false);
    w.dispatch(event('NODE_CREATED', '/x/y'));
    assert.equal(w.removePersistent('recursive', '/x', b), true);
    assert.deepEqual([a.seen, b.seen], [[], ['NODE_CREATED /x/y']]);
    assert.ok(w.empty);
  });

  it('one throwing callback does not keep the others from their event', () => {
    const w = new ClientWatches();
    const ok = recorder();
    w.addData('/a', () => {
      throw new Error('boom');
    });
    w.addData('/a', ok);
    w.dispatch(event('NODE_DATA_CHANGED', '/a'));
    assert.deepEqual(ok.seen, ['NODE_DATA_CHANGED /a']);
  });

  it('lists what to restore after a reconnect, by kind, with the last zxid', () => {
    const w = new ClientWatches();
    const f = recorder();
    w.addData('/d', f);
    w.addExist('/e', f);
    w.addChild('/c', f);
    w.addPersistent('persistent', '/p', f);
    w.addPersistent('recursive', '/r', f);
    assert.deepEqual(w.toRestore(42), {
      relativeZxid: 42,
      dataWatches: ['/d'],
      existWatches: ['/e'],
      childWatches: ['/c'],
      persistentWatches: ['/p'],
      persistentRecursiveWatches: ['/r'],
    });
  });
});
