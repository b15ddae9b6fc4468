/**
 * Regression (server): a follower that campaigned without result failed the writes it had forwarded
 * to a leader that was still there.
 *
 * Found as a flaky "leader was lost; the outcome of this write is unknown" in
 * snapshot-install-watches.cluster.ts under CI load. A follower that stops hearing from its leader
 * (a stall, or the connection from it closing: the failover hint campaigns within 1-5 ticks) becomes
 * a pre-candidate, which clears its leader (as in etcd raft), and the node (node.ts onSoftState)
 * failed every write it waited on. The pre-vote fails while the leader lives (the others are in its
 * lease), the same leader speaks again in the same term, and the forwarded writes commit: but their
 * clients had been told the outcome was unknown. The node now keeps them while it has no leader,
 * and fails them only if another leader or a new term follows, or nobody comes back in time.
 *
 * Recipe: 3 members; a client on follower F; F's messages to the leader delayed 1.5 s (so its
 * forwarded write waits in the network), the leader's messages to F held for 1.1 s (longer than an
 * election timeout: F loses its leader and pre-campaigns, in vain), then released. The write must
 * succeed, and F's log must show that it lost its leader meanwhile.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { NemesisCluster } from '../../nemesis/cluster.js';

describe('regression: forwarded writes through a failed pre-vote on their member', function () {
  this.timeout(60_000);

  it('a write forwarded by a follower that loses its leader for a moment succeeds when that leader comes back', async () => {
    const cluster = await NemesisCluster.start({ members: 3, settings: { logLevel: 'info' } });
    try {
      const leader = await cluster.leader();
      const follower = cluster.current.find((id) => id !== leader)!;
      const client = await Conclave.connect({ endpoints: cluster.endpoints([follower]) });
      await client.create('/before');
      cluster.setLink(follower, leader, { kind: 'delay', delayMs: 1500 });
      cluster.setLink(leader, follower, { kind: 'blackhole' });
      const write = client.create('/during').then(() => undefined, (error: Error) => error);
      await new Promise((r) => setTimeout(r, 1100));
      cluster.setLink(leader, follower, { kind: 'ok' });
      assert.equal(await write, undefined, 'the write succeeds');
      assert.match(cluster.logTail(follower, 200), /lost the leader/, 'the follower lost its leader meanwhile');
      cluster.healNetwork();
      assert.ok(await client.exists('/during'));
      await client.close();
    } finally {
      await cluster.stop();
    }
  });
});
