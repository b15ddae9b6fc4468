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

describe('codec', () => {
  it('stamps the leader time onto an encoded transaction', async () => {
    const { encodeTxn, decodeTxn, stampTime } = await import('../src/codec.js');
    const bytes = encodeTxn({ origin: 2, originSeq: 9, delete: { path: '/x', version: -1 } });
    const stamped = decodeTxn(stampTime(bytes, 1_795_611_824_945));
    assert.equal(stamped.timeMs, 1_795_611_824_945);
    assert.equal(stamped.originSeq, 9);
    assert.equal(stamped.delete!.path, '/x');
    assert.equal(decodeTxn(stampTime(encodeTxn({ timeMs: 5 }), 7)).timeMs, 7);
  });
});
