import assert from 'node:assert/strict';
import { SessionTracker } from '../../src/session/tracker.js';

describe('session tracker (leader expiry clock)', () => {
  it('expires a session once its timeout passes without a touch, once', () => {
    const t = new SessionTracker(100);
    t.add(1, 1_000, 0);
    t.add(2, 1_000, 0);
    assert.deepEqual(t.expired(900, 0), []);
    assert.equal(t.touch(2, 900), true);
    assert.deepEqual(t.expired(1_100, 0), [1]);
    assert.deepEqual(t.expired(1_200, 0), []);
    assert.equal(t.touch(1, 1_200), false, 'an expiring session cannot be renewed');
    assert.deepEqual(t.expired(2_000, 0), [2]);
  });

  it('reports an expiring session again after the retry interval until it is removed', () => {
    const t = new SessionTracker(100);
    t.add(7, 500, 0);
    assert.deepEqual(t.expired(600, 1_000), [7]);
    assert.deepEqual(t.expired(1_500, 1_000), []);
    assert.deepEqual(t.expired(1_600, 1_000), [7]);
    t.remove(7);
    assert.deepEqual(t.expired(5_000, 1_000), []);
    assert.equal(t.size, 0);
  });

  it('gives every session a fresh full timeout on resetAll (new leader)', () => {
    const t = new SessionTracker(100);
    t.add(1, 1_000, 0);
    t.expired(1_500, 0);
    t.resetAll(10_000);
    assert.equal(t.remaining(1, 10_000), 1_000);
    assert.deepEqual(t.expired(10_900, 0), []);
    assert.deepEqual(t.expired(11_000, 0), [1]);
  });
});
