import assert from 'node:assert/strict';
import { WatchRegistry, type WatchEvent, type Watcher } from '../../src/watch/registry.js';
import { EventHistory } from '../../src/watch/history.js';
import { restoreWatches } from '../../src/watch/restore.js';
import { StateMachine } from '../../src/fsm/state-machine.js';
import { create, del, setData } from '../fsm/helpers.js';

class Inbox implements Watcher {
  events: WatchEvent[] = [];
  deliver(event: WatchEvent): void {
    this.events.push(event);
  }
  summary(): string[] {
    return this.events.map((e) => `${e.type} ${e.path}`);
  }
}

describe('watch registry', () => {
  let registry: WatchRegistry;
  let w: Inbox;
  beforeEach(() => {
    registry = new WatchRegistry();
    w = new Inbox();
  });

  it('fires one-shot data watches once', () => {
    registry.add('data', '/a', w);
    registry.trigger({ type: 'NODE_DATA_CHANGED', path: '/a', zxid: 5 });
    registry.trigger({ type: 'NODE_DATA_CHANGED', path: '/a', zxid: 6 });
    assert.deepEqual(w.events, [{ type: 'NODE_DATA_CHANGED', path: '/a', zxid: 5 }]);
    assert.equal(registry.count, 0);
  });

  it('fires child watches on children changed and on deletion, but not on data changes', () => {
    registry.add('child', '/a', w);
    registry.trigger({ type: 'NODE_DATA_CHANGED', path: '/a', zxid: 1 });
    assert.deepEqual(w.events, []);
    registry.trigger({ type: 'NODE_CHILDREN_CHANGED', path: '/a', zxid: 2 });
    registry.add('child', '/a', w);
    registry.trigger({ type: 'NODE_DELETED', path: '/a', zxid: 3 });
    assert.deepEqual(w.summary(), ['NODE_CHILDREN_CHANGED /a', 'NODE_DELETED /a']);
  });

  it('delivers one event per change to a watcher holding several matching watches', () => {
    registry.add('data', '/a', w);
    registry.add('child', '/a', w);
    registry.add('persistent', '/a', w);
    registry.add('recursive', '/', w);
    registry.trigger({ type: 'NODE_DELETED', path: '/a', zxid: 3 });
    assert.deepEqual(w.summary(), ['NODE_DELETED /a']);
    assert.equal(registry.count, 2); // persistent ones stay
  });

  it('keeps persistent watches, and recursive ones see the subtree but not children-changed', () => {
    registry.add('persistent', '/a', w);
    const r = new Inbox();
    registry.add('recursive', '/a', r);
    for (const [type, path] of [['NODE_CREATED', '/a/b'], ['NODE_CHILDREN_CHANGED', '/a'], ['NODE_DATA_CHANGED', '/a'], ['NODE_DATA_CHANGED', '/a/b/c'], ['NODE_DATA_CHANGED', '/ab']] as const) {
      registry.trigger({ type, path, zxid: 1 });
    }
    assert.deepEqual(w.summary(), ['NODE_CHILDREN_CHANGED /a', 'NODE_DATA_CHANGED /a']);
    assert.deepEqual(r.summary(), ['NODE_CREATED /a/b', 'NODE_DATA_CHANGED /a', 'NODE_DATA_CHANGED /a/b/c']);
  });

  it('removes watches by type and all of a watcher at once', () => {
    registry.add('data', '/a', w);
    registry.add('persistent', '/a', w);
    assert.equal(registry.remove('/a', 'CHILD_WATCHER', w), false);
    assert.equal(registry.remove('/a', 'DATA_WATCHER', w), true);
    assert.equal(registry.count, 1);
    registry.add('recursive', '/x', w);
    registry.removeWatcher(w);
    assert.equal(registry.count, 0);
    registry.trigger({ type: 'NODE_DATA_CHANGED', path: '/a', zxid: 1 });
    assert.deepEqual(w.events, []);
  });
});

describe('event history and watch restore', () => {
  it('holds the latest changes and knows what it covers', () => {
    const h = new EventHistory(3, 10);
    for (let z = 11; z <= 15; z++) h.append({ type: 'NODE_DATA_CHANGED', path: '/a', zxid: z });
    assert.equal(h.covers(11), false);
    assert.equal(h.covers(12), true);
    assert.deepEqual([...h.since(13)].map((c) => c.zxid), [14, 15]);
    assert.deepEqual([...h.since(0)].map((c) => c.zxid), [13, 14, 15]);
  });

  it('gives back each held change as it was appended, across the wrap of the ring and a reset', () => {
    const types = ['NODE_CREATED', 'NODE_DELETED', 'NODE_DATA_CHANGED', 'NODE_CHILDREN_CHANGED'] as const;
    const changes = Array.from({ length: 11 }, (_, i) => ({ type: types[i % 4]!, path: `/p${i}`, zxid: 2 ** 40 + Math.floor(i / 2) }));
    const h = new EventHistory(7, 0);
    for (const c of changes) h.append(c);
    assert.equal(h.size, 7);
    assert.deepEqual([...h.since(0)], changes.slice(4));
    assert.equal(h.covers(2 ** 40), false, 'changes after zxid 2^40 were dropped');
    assert.equal(h.covers(2 ** 40 + 1), true, 'every change after the newest dropped one is held');
    h.reset(2 ** 41);
    assert.deepEqual([...h.since(0)], []);
    h.append(changes[0]!);
    assert.deepEqual([...h.since(0)], [changes[0]]);
  });

  function world() {
    const fsm = new StateMachine();
    const history = new EventHistory(1000, 0);
    let index = 0;
    const apply = (t: Parameters<StateMachine['apply']>[2]) => {
      const out = fsm.apply(++index, 1, t);
      for (const c of out.changes) history.append(c);
      return index;
    };
    return { fsm, history, apply };
  }

  it('replays exactly the changes missed while disconnected, in order, then stays armed', () => {
    const { fsm, history, apply } = world();
    apply(create('/a'));
    const seen = apply(create('/a/x'));
    apply(setData('/a/x', '1'));
    apply(create('/a/y'));
    apply(setData('/a', 'd'));
    const registry = new WatchRegistry();
    const w = new Inbox();
    restoreWatches(
      { relativeZxid: seen, dataWatches: ['/a'], existWatches: ['/b'], childWatches: [], persistentWatches: [], persistentRecursiveWatches: ['/a'] },
      w, registry, fsm.tree, history, fsm.appliedIndex,
    );
    assert.deepEqual(w.summary(), ['NODE_DATA_CHANGED /a/x', 'NODE_CREATED /a/y', 'NODE_DATA_CHANGED /a']);
    assert.deepEqual(registry.watchesOf(w), { data: ['/b'], child: [], persistent: [], recursive: ['/a'] });
  });

  it('falls back to comparing against the tree, and resets persistent watches, without history', () => {
    const { fsm, apply } = world();
    apply(create('/a'));
    apply(create('/b'));
    apply(setData('/a', 'x'));
    apply(del('/b'));
    const registry = new WatchRegistry();
    const w = new Inbox();
    const empty = new EventHistory(10, fsm.appliedIndex);
    restoreWatches(
      { relativeZxid: 1, dataWatches: ['/a', '/b'], existWatches: [], childWatches: ['/'], persistentWatches: ['/p'], persistentRecursiveWatches: [] },
      w, registry, fsm.tree, empty, fsm.appliedIndex,
    );
    assert.deepEqual(w.summary(), ['NODE_DATA_CHANGED /a', 'NODE_DELETED /b', 'NODE_CHILDREN_CHANGED /', 'WATCH_RESET /p']);
    assert.deepEqual(registry.watchesOf(w).persistent, ['/p']);
  });
});
