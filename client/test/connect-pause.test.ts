import assert from 'node:assert/strict';
import { connectPause } from '../src/session.js';

describe('the pause between connect attempts', () => {
  it('waits only after a round through the endpoints, 50 ms more each attempt up to 1 s', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map((attempt) => connectPause(attempt, 1, 0)), [50, 100, 150, 200, 250]);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((attempt) => connectPause(attempt, 3, 0)), [0, 0, 150, 0, 0, 300]);
    assert.equal(connectPause(100, 1, 0), 1000);
  });

  it('counts the round itself: a round that took the pause or longer is followed at once', () => {
    assert.equal(connectPause(7, 1, 5_000), 0); // a connect that timed out after 5 s
    assert.equal(connectPause(7, 1, 300), 100);
    assert.equal(connectPause(2, 3, 149), 1);
    assert.equal(connectPause(2, 3, 150), 0);
  });
});
