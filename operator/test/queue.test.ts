// The work queue: a key is queued once, never processed twice at once, and a failing key backs off.
import assert from 'node:assert/strict';
import { WorkQueue } from '../src/controller/queue.js';

function manualTimers() {
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  return {
    timers,
    setTimer: (fn: () => void, ms: number) => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
    fire: () => timers.splice(0).filter((t) => !t.cancelled).forEach((t) => t.fn()),
  };
}

describe('operator work queue', () => {
  it('de-duplicates keys waiting to be processed', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.next(), 'a');
    assert.equal(await q.next(), 'b');
  });

  it('never hands out a key in flight; one added meanwhile runs again after done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.next();
    q.add('a');
    assert.equal(q.length, 0, 'not queued while in flight');
    q.done(key!);
    assert.equal(q.length, 1);
    assert.equal(await q.next(), 'a');
  });

  it('wakes a waiting worker', async () => {
    const q = new WorkQueue();
    const waiting = q.next();
    q.add('x');
    assert.equal(await waiting, 'x');
  });

  it('backs off 1 s, 2 s, 4 s ... up to the cap, and forgets after a success', () => {
    const t = manualTimers();
    const q = new WorkQueue({ baseDelayMs: 1000, maxDelayMs: 5000, setTimer: t.setTimer });
    assert.deepEqual([q.retry('k'), q.retry('k'), q.retry('k'), q.retry('k')], [1000, 2000, 4000, 5000]);
    q.forget('k');
    assert.equal(q.retry('k'), 1000);
  });

  it('addAfter keeps the earliest due time', () => {
    const t = manualTimers();
    const q = new WorkQueue({ setTimer: t.setTimer });
    q.addAfter('k', 30_000, 0);
    q.addAfter('k', 1000, 0);
    q.addAfter('k', 5000, 0);
    assert.deepEqual(t.timers.filter((x) => !x.cancelled).map((x) => x.ms), [1000]);
    t.fire();
    assert.equal(q.length, 1);
  });

  it('close() releases waiting workers with undefined', async () => {
    const q = new WorkQueue();
    const waiting = q.next();
    q.close();
    assert.equal(await waiting, undefined);
  });
});
