/** The pure parts of the recipes: node name order, who holds a lock, who waits for whom, queue order. */
import assert from 'node:assert/strict';
import { deadline, isRetryable, isTimeout, protectedPrefix, sequenceOf, sortBySequence } from '../src/recipes/internal.js';
import { firstInLine, readPredicate } from '../src/recipes/lock.js';
import { itemOrder, priorityKey } from '../src/recipes/queue.js';
import { ConnectionLossError } from '../src/session.js';
import { ConclaveError, NoNodeError } from '@conclave/proto/errors';

const g = (c: string) => c.repeat(32);

describe('recipes: pure parts', () => {
  it('protected sequential names sort by their sequence, not by their GUID', () => {
    const names = [`${protectedPrefix(g('f'))}lock-0000000002`, `${protectedPrefix(g('0'))}lock-0000000010`, `${protectedPrefix(g('a'))}lock-0000000001`, 'not-sequential'];
    assert.equal(sequenceOf(names[0]!), 2);
    assert.equal(sequenceOf('x'), -1);
    assert.deepEqual(sortBySequence(names).map(sequenceOf), [1, 2, 10]);
  });

  it('mutex: the first holds it, every other waits for the one right before it', () => {
    const q = ['a', 'b', 'c', 'd'];
    assert.deepEqual(firstInLine(q, 0), { acquired: true });
    for (let i = 1; i < q.length; i++) assert.deepEqual(firstInLine(q, i), { acquired: false, watch: q[i - 1] });
  });

  it('read lock: granted unless a writer is queued before; waits for the nearest such writer only', () => {
    const q = ['x-read-0000000001', 'x-write-0000000002', 'x-read-0000000003', 'x-read-0000000004', 'x-write-0000000005', 'x-read-0000000006'];
    const read = readPredicate(() => false);
    assert.deepEqual(read(q, 0), { acquired: true });
    assert.deepEqual(read(q, 2), { acquired: false, watch: q[1] });
    assert.deepEqual(read(q, 3), { acquired: false, watch: q[1] });
    assert.deepEqual(read(q, 5), { acquired: false, watch: q[4] });
    assert.deepEqual(readPredicate(() => true)(q, 5), { acquired: true }, 'the holder of the write lock may read');
  });

  it('queue items: by priority (lower first, negative allowed), then by sequence; other children ignored', () => {
    const p = protectedPrefix(g('1'));
    assert.deepEqual(itemOrder([`${p}item-0000000003`, `${p}item-0000000001`, '.claims', `${p}item-0000000002`]), [`${p}item-0000000001`, `${p}item-0000000002`, `${p}item-0000000003`]);
    const items = [
      `${p}item-${priorityKey(10)}-0000000001`,
      `${p}item-${priorityKey(-3)}-0000000004`,
      `${p}item-${priorityKey(0)}-0000000003`,
      `${p}item-${priorityKey(-3)}-0000000002`,
    ];
    assert.deepEqual(itemOrder(items).map(sequenceOf), [2, 4, 3, 1]);
    assert.throws(() => priorityKey(2 ** 31), RangeError);
    assert.throws(() => priorityKey(1.5), RangeError);
  });

  it('retryable failures are those whose outcome is unknown: connection loss, unavailable, timeout', () => {
    assert.ok(isRetryable(new ConnectionLossError('lost')));
    assert.ok(isRetryable(new ConclaveError('UNAVAILABLE', 'no quorum')));
    assert.ok(isRetryable(new ConclaveError('TIMEOUT', 'slow')));
    assert.ok(!isRetryable(new NoNodeError('gone')));
    assert.ok(!isRetryable(new ConclaveError('SESSION_EXPIRED', 'over')));
    assert.ok(!isRetryable(new Error('plain')));
  });

  it('deadlines: a signal that aborts with the caller\'s signal or after timeoutMs', async () => {
    const caller = new AbortController();
    assert.equal(deadline(caller.signal, undefined), caller.signal);
    const timed = deadline(undefined, 10)!;
    await new Promise((r) => timed.addEventListener('abort', r));
    assert.ok(isTimeout(timed.reason));
    const both = deadline(caller.signal, 10_000)!;
    caller.abort(new Error('mine'));
    assert.ok(both.aborted && !isTimeout(both.reason));
    assert.ok(!isTimeout(new ConclaveError('TIMEOUT', 'a server timeout is not a deadline')));
  });
});
