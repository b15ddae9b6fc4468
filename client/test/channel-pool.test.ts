import assert from 'node:assert/strict';
import { acquireChannel, pooledChannels, releaseChannel } from '../src/channel-pool.js';

describe('client: channel pool', () => {
  it('shares one channel per endpoint among its users and keeps it for the next one', () => {
    const endpoint = '127.0.0.1:1';
    const first = acquireChannel(endpoint);
    const second = acquireChannel(endpoint);
    assert.equal(first, second);
    assert.notEqual(acquireChannel('127.0.0.1:2'), first, 'another endpoint, another channel');
    assert.equal(pooledChannels().get(endpoint), 2);
    releaseChannel(endpoint);
    releaseChannel(endpoint);
    releaseChannel(endpoint); // one release too many changes nothing
    assert.equal(pooledChannels().get(endpoint), 0, 'lingering, unused');
    assert.equal(acquireChannel(endpoint), first, 'a user within the linger gets the same channel');
    releaseChannel(endpoint);
    releaseChannel('127.0.0.1:2');
  });
});
