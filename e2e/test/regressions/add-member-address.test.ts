/**
 * Regression (server): AddMember with a malformed peer address must be refused, not committed.
 *
 * Found by the protocol fuzzer (e2e/test/fuzz). api/cluster.ts AddMember only checked that
 * peer_address was not empty; the membership change was committed, and applying it
 * (node.ts applyConfChange -> transport setPeers -> new PeerLink) made grpc-js throw "Could not
 * parse target name" inside the Ready loop: the member stopped. The entry is in the log, so every
 * member that applies it, now or after a restart, stops too: one admin request bricks the cluster.
 */
import assert from 'node:assert/strict';
import { TestCluster } from '../../harness/cluster.js';
import { unaryStubs } from '../../harness/raw.js';

describe('regression: AddMember with a malformed address', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { logLevel: 'warn' } });
  });
  after(async () => cluster.stop());

  for (const peerAddress of ['/a\nb', 'no port', 'host:', ':2882', 'host:99999999', 'a b:1']) {
    it(`peer address ${JSON.stringify(peerAddress)}: INVALID_ARGUMENT, and the member lives on`, async () => {
      const stubs = unaryStubs(cluster.endpoints());
      try {
        const error = await stubs.cluster.addMember({ id: 9, peerAddress, clientAddress: '127.0.0.1:1' }).then(() => undefined, (e: { code: string }) => e);
        assert.equal(error?.code, 'INVALID_ARGUMENT');
        await new Promise((r) => setTimeout(r, 200));
        assert.ok(cluster.running(1), cluster.logTail(1));
        const members = await stubs.cluster.members({});
        assert.deepEqual(members.members.map((m: { id: number }) => m.id), [1]);
      } finally {
        stubs.close();
      }
    });
  }
});
