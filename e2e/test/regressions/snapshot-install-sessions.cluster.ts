/**
 * Regression (server): a session that ended while its member was behind must be told so when that
 * member catches up by a snapshot, not served on.
 *
 * Found by the nemesis (seed 1544129637, 5 members with log compaction): a client attached to a
 * member in a minority partition kept pinging it; its session expired at the leader (the member
 * could not pass the pings on), the expiry deleted its ephemeral nodes, and the member then caught
 * up by installing a snapshot (node.ts installSnapshot). Only applying a CloseSession entry told
 * the attached stream (SessionListener.sessionClosed); a snapshot covering it told nobody, so the
 * member went on serving the ended session: its linearizable read found its own ephemeral node
 * gone while the client had never heard of an expiry ("no premature loss").
 *
 * Recipe: 3 members with a tiny snapshot cadence; a session with the shortest timeout attached to
 * follower F only, owning an ephemeral node; F's messages to the others dropped (it still hears
 * its leader and keeps its client; the pings go nowhere); writes through the others, more than
 * the leader sends F unanswered, until the session expires and the leader has compacted past F;
 * heal: F installs a snapshot.
 * The client must learn its session expired, and a read must fail with SESSION_EXPIRED rather than
 * answer without the session's node.
 */
import assert from 'node:assert/strict';
import { Conclave, type SessionState } from '@conclave/client';
import { createThroughFailovers } from '../../harness/checks.js';
import { NemesisCluster } from '../../nemesis/cluster.js';

describe('regression: a session ended while its member was behind, caught up by snapshot', function () {
  this.timeout(120_000);

  it('the client is told its session expired; its reads are refused, not answered without its nodes', async () => {
    const cluster = await NemesisCluster.start({ members: 3, settings: { logLevel: 'info', snapshotCount: 50, snapshotCatchUpEntries: 10 } });
    try {
      const leader = await cluster.leader();
      const follower = cluster.current.find((id) => id !== leader)!;
      const others = cluster.current.filter((id) => id !== follower);
      const writer = await Conclave.connect({ endpoints: cluster.endpoints(others) });
      await createThroughFailovers(writer, '/w');
      const owner = await Conclave.connect({ endpoints: cluster.endpoints([follower]), sessionTimeoutMs: 4_000 });
      const states: SessionState[] = [];
      owner.onState((state) => states.push(state));
      const stateNow = (): SessionState => owner.state;
      await owner.create('/eph', 'mine', { kind: 'EPHEMERAL' });

      // F cannot send: its pings go nowhere, but it hears its leader (so it keeps its client). The
      // leader sends F at most 256 appends without an answer: the writes fill that window before
      // the session expires, so F never receives the expiry.
      for (const other of others) cluster.block(follower, other);
      const expiredBy = Date.now() + 30_000;
      for (let i = 0; (await writer.exists('/eph', { linearizable: true })) !== null; i++) {
        assert.ok(Date.now() < expiredBy, 'the session cut off from the leader did not expire');
        await createThroughFailovers(writer, `/w/before${i}`);
      }
      assert.equal(stateNow(), 'connected', 'the owner stays attached to its member, which still hears its leader');
      for (let i = 0; i < 100; i++) await createThroughFailovers(writer, `/w/after${i}`);
      cluster.healNetwork(() => false);

      const deadline = Date.now() + 30_000;
      while ((await cluster.status(follower))!.appliedIndex < (await cluster.status(await cluster.leader()))!.commitIndex) {
        assert.ok(Date.now() < deadline, 'the follower did not catch up');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(cluster.logTail(follower, 200), /installed snapshot from the leader/);
      const toldBy = Date.now() + 10_000;
      while (stateNow() !== 'expired' && Date.now() < toldBy) await new Promise((r) => setTimeout(r, 100));
      assert.equal(stateNow(), 'expired', `the owner was not told its session expired (states: ${states.join(', ')})`);
      await assert.rejects(owner.exists('/eph', { linearizable: true }), { code: 'SESSION_EXPIRED' });
      await Promise.all([owner.close(), writer.close()]);
    } finally {
      await cluster.stop();
    }
  });
});
