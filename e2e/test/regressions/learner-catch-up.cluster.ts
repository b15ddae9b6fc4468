/**
 * Regression (server): a member added to a cluster that has not taken a snapshot yet must catch up.
 *
 * The new member (empty data dir, --join) rejects the leader's appends until it has a snapshot
 * (raft.ts handleAppendEntries, isUninitialized); the leader then sends its latest snapshot, which
 * for a young cluster is the founding state at index 0 (raft.ts handleAppendResponse ->
 * maybeSendSnapshot). node.ts sendSnapshot looks for a snapshot *file* at that index, finds none and
 * reports failure; the leader retries the same forever, and the learner stays at index 0, so
 * PromoteMember keeps answering "has not caught up yet". (The failover suite's membership test
 * passes only because it runs with snapshotCount 500 under load, so a file exists.)
 *
 * Found by the nemesis replace-member fault (seed 1, 3 members). The nemesis works around it by
 * taking a snapshot on every member before adding one (nemesis/cluster.ts replace()).
 */
import assert from 'node:assert/strict';
import { TestCluster } from '../../harness/cluster.js';
import { unaryStubs } from '../../harness/raw.js';

describe('regression: a learner added before the first snapshot', function () {
  this.timeout(60_000);

  it('catches up and can be promoted', async () => {
    const cluster = await TestCluster.start({ members: 3, settings: { logLevel: 'warn' } });
    const stubs = unaryStubs(cluster.endpoints());
    try {
      const spec = await cluster.newSpec(4);
      cluster.members.set(4, spec);
      await stubs.cluster.addMember({ id: 4, peerAddress: `127.0.0.1:${spec.peerPort}`, clientAddress: `127.0.0.1:${spec.clientPort}` });
      await cluster.launch(spec, { join: true });
      const deadline = Date.now() + 20_000;
      for (;;) {
        const leader = await cluster.status(await cluster.leader());
        const learner = await cluster.status(4);
        if (leader && learner && learner.appliedIndex >= leader.commitIndex) break;
        assert.ok(Date.now() < deadline, `the learner is still at index ${learner?.appliedIndex} of ${leader?.commitIndex} after 20 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await stubs.cluster.promoteMember({ id: 4 });
    } finally {
      stubs.close();
      await cluster.stop();
    }
  });
});
