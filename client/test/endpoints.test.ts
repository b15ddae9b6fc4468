/** Connect strings. */
import assert from 'node:assert/strict';
import { DEFAULT_ENDPOINTS, parseEndpoints } from '../src/endpoints.js';
import { grpcTarget } from '../src/channel-pool.js';

describe('endpoints', () => {
  it('splits host:port lists, trimming blanks and a conclave:// prefix', () => {
    assert.deepEqual(parseEndpoints('10.0.0.1:2281, 10.0.0.2:2281,,conclave://db-3.internal:2281'), ['10.0.0.1:2281', '10.0.0.2:2281', 'db-3.internal:2281']);
    assert.deepEqual(parseEndpoints(['[::1]:2281', 'localhost:1']), ['[::1]:2281', 'localhost:1']);
  });

  it('defaults to 127.0.0.1:2281', () => {
    assert.equal(DEFAULT_ENDPOINTS, '127.0.0.1:2281');
    assert.deepEqual(parseEndpoints(undefined), ['127.0.0.1:2281']);
  });

  it('rejects what is not host:port, with the culprit in the message', () => {
    for (const bad of ['', ' , ', 'host', 'host:', ':2281', 'a b:1', 'host:123456', 'http://x:1', '::1:2281']) {
      assert.throws(() => parseEndpoints(bad), TypeError, bad);
    }
    assert.throws(() => parseEndpoints('good:1,bad'), /bad endpoint "bad"/);
  });

  it('gives grpc-js IP literals as ip targets (no DNS resolver per channel), names as they are', () => {
    assert.equal(grpcTarget('127.0.0.1:2281'), 'ipv4:127.0.0.1:2281');
    assert.equal(grpcTarget('[::1]:2281'), 'ipv6:[::1]:2281');
    assert.equal(grpcTarget('db-3.internal:2281'), 'db-3.internal:2281');
    assert.equal(grpcTarget('localhost:1'), 'localhost:1');
    assert.equal(grpcTarget('[db]:1'), '[db]:1');
  });
});
