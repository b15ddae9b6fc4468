/**
 * History bookkeeping: which errors leave a write's outcome unknown, the seeded random source, and
 * the resolution of unknown outcomes from the committed log.
 */
import assert from 'node:assert/strict';
import { ConclaveError, ConnectionLossError } from '@conclave/client';
import { History, definitelyFailed } from '../../nemesis/history.js';
import { Random } from '../../nemesis/random.js';
import { resolveUnknowns } from '../../nemesis/resolve.js';
import { QueueWorkload } from '../../nemesis/workloads/queue.js';
import type { CommittedTxn } from '../../nemesis/replay.js';

describe('nemesis histories', () => {
  it('classifies errors: decided in log order or refused before it = failed; anything else = unknown', () => {
    assert.equal(definitelyFailed(new ConclaveError('BAD_VERSION', 'x')), true);
    assert.equal(definitelyFailed(new ConclaveError('NODE_EXISTS', 'x')), true);
    assert.equal(definitelyFailed(new ConclaveError('UNAVAILABLE', 'no leader (no quorum); the write was not applied')), true);
    assert.equal(definitelyFailed(new ConclaveError('UNAVAILABLE', 'the leader changed to member 2; the outcome of this write is unknown')), false);
    assert.equal(definitelyFailed(new ConnectionLossError('connection lost')), false);
    assert.equal(definitelyFailed(new ConclaveError('TIMEOUT', 'no answer')), false);
    assert.equal(definitelyFailed(new ConclaveError('SESSION_EXPIRED', 'gone')), false);
    assert.equal(definitelyFailed(new ConclaveError('RESOURCE_EXHAUSTED', 'the client is not reading its session stream; closing it')), false);
    assert.equal(definitelyFailed(new Error('boom')), false);
  });

  it('a seed gives the same draws', () => {
    const a = new Random(42);
    const b = new Random(42);
    const draws = (r: Random) => Array.from({ length: 20 }, () => r.int(0, 1000));
    assert.deepEqual(draws(a), draws(b));
    assert.notDeepEqual(draws(new Random(43)), draws(new Random(42)));
    const c = new Random(7);
    for (let i = 0; i < 1000; i++) {
      const x = c.next();
      assert.ok(x >= 0 && x < 1);
    }
  });

  describe('settling unknown enqueues from the drained queue', () => {
    it('taken by a dequeue: applied, returning when that dequeue did; never taken: absent; maybe taken: unknown', async () => {
      const queue = new QueueWorkload(1, new Random(1));
      const h = queue.history;
      const taken = h.invoke(0, 'enqueue', { op: 'enqueue', value: 'v1' });
      h.info(taken, new Error('lost'));
      const never = h.invoke(1, 'enqueue', { op: 'enqueue', value: 'v2' });
      h.info(never, new Error('lost'));
      const maybe = h.invoke(2, 'enqueue', { op: 'enqueue', value: 'v3' });
      h.info(maybe, new Error('lost'));
      const dequeue = h.invoke(3, 'dequeue', { op: 'dequeue' });
      h.ok(dequeue, { value: 'v1', seq: 7 });
      const unsure = h.invoke(4, 'dequeue', { op: 'dequeue', target: 'v3' });
      h.info(unsure, new Error('lost'));
      assert.equal(queue.resolveFromObservations(), 0, 'nothing before the queue is drained');
      (queue as unknown as { drained: boolean }).drained = true;
      assert.equal(queue.resolveFromObservations(), 2);
      assert.deepEqual([taken.status, taken.output, taken.ret], ['ok', { seq: 7 }, dequeue.ret]);
      assert.equal(never.status, 'fail');
      assert.equal(maybe.status, 'info');
    });
  });

  describe('resolving unknown outcomes from the log', () => {
    const txn = (zxid: number, sessionId: number, path: string, data: string, version: number, error?: string): CommittedTxn => ({
      zxid,
      sessionId,
      op: 'setData',
      path,
      data: Buffer.from(data),
      version,
      error,
      stat: error ? undefined : { version: version + 1, mzxid: zxid },
    });

    function history() {
      const h = new History<Record<string, unknown>, Record<string, unknown>>('register');
      const applied = h.invoke(0, 'write', { key: 'k', op: 'write', value: 'a' }, { sessionId: 1, op: 'setData', path: '/k', data: 'a', version: -1 });
      h.info(applied, new Error('lost'));
      const absent = h.invoke(1, 'write', { key: 'k', op: 'write', value: 'b' }, { sessionId: 2, op: 'setData', path: '/k', data: 'b', version: -1 });
      h.info(absent, new Error('lost'));
      const later = h.invoke(3, 'write', { key: 'k', op: 'write', value: 'c' }, { sessionId: 3, op: 'setData', path: '/k', data: 'c', version: -1 });
      h.ok(later, { version: 2 }, 11);
      return { h, applied, absent, later };
    }

    it('applied: ok, with the version from the log, returning when a later acknowledged write did', () => {
      const { h, applied, absent, later } = history();
      const r = resolveUnknowns([{ model: 'register', history: h as never }], [txn(10, 1, '/k', 'a', -1), txn(11, 3, '/k', 'c', -1)], 0);
      assert.equal(applied.status, 'ok');
      assert.equal(applied.ret, later.ret);
      assert.equal(applied.output!.version, 0); // the test's txn says version -1 + 1
      assert.equal(absent.status, 'fail');
      assert.deepEqual({ applied: r.applied, absent: r.absent, unknown: r.unknown }, { applied: 1, absent: 1, unknown: 2 });
    });

    it('a transaction an acknowledged operation accounts for is not another one\'s', () => {
      const h = new History<Record<string, unknown>, Record<string, unknown>>('register');
      const lost = h.invoke(0, 'cas', {}, { sessionId: 1, op: 'setData', path: '/k', data: 'x', version: 3 });
      h.info(lost, new Error('lost'));
      const retry = h.invoke(1, 'cas', {}, { sessionId: 1, op: 'setData', path: '/k', data: 'x', version: 3 });
      h.ok(retry, { version: 4 }, 20);
      resolveUnknowns([{ model: 'register', history: h as never }], [txn(20, 1, '/k', 'x', 3)], 0);
      assert.equal(lost.status, 'fail');
      assert.equal(lost.resolved, 'absent');
    });

    it('leaves alone what may lie before the replayed part of the log', () => {
      const { h, absent } = history();
      const r = resolveUnknowns([{ model: 'register', history: h as never }], [txn(11, 3, '/k', 'c', -1)], 5);
      assert.equal(absent.status, 'info');
      assert.equal(r.unmatched, 2);
    });

    it('failed at apply: no effect', () => {
      const { h, applied } = history();
      resolveUnknowns([{ model: 'register', history: h as never }], [txn(10, 1, '/k', 'a', -1, 'BAD_VERSION'), txn(11, 3, '/k', 'c', -1)], 0);
      assert.equal(applied.status, 'fail');
      assert.equal(applied.resolved, 'failed');
    });
  });
});
