import assert from 'node:assert/strict';
import { codec, loadPublicApi } from '@conclave/proto';

describe('proto loader', () => {
  it('loads the public services', () => {
    const api = loadPublicApi();
    assert.equal(typeof api.conclave.v1.Conclave, 'function');
    assert.equal(typeof api.conclave.v1.Cluster, 'function');
    assert.equal(typeof api.conclave.v1.Leases, 'function');
  });

  it('round-trips a Txn with 53-bit ids exactly', () => {
    const txn = codec<object, { sessionId: number; create: { path: string } }>('conclave.raft.v1.Txn');
    const id = 2 ** 53 - 1;
    const decoded = txn.decode(txn.encode({ sessionId: id, create: { path: '/a', data: Buffer.from('x') } }));
    assert.equal(decoded.sessionId, id);
    assert.equal(decoded.create.path, '/a');
  });
});
