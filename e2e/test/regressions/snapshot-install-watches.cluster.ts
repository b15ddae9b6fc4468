/**
 * Regression (server): watches on a member that installs a snapshot from the leader must not miss
 * the changes the snapshot covers.
 *
 * A follower cut off long enough for the leader to compact its log catches up by snapshot
 * (node.ts installSnapshot): it replaces its state machine and resets its event history, but the
 * watches of the sessions attached to it stay armed and are told nothing, so every change between
 * its old applied index and the snapshot is lost to them without a WATCH_RESET (semantics.md: no
 * gaps; resumable watches get WATCH_RESET when the history does not reach back).
 *
 * Recipe: 3 members with a tiny snapshot cadence; a watcher attached to follower F with a recursive
 * watch; F isolated (clients still reach it); writes through the others until the leader compacts;
 * heal: F installs a snapshot; the watcher must have every creation event or a WATCH_RESET. The
 * writes go on through a change of leader among the other two (a slow disk on a loaded machine can
 * cause one: a leader whose write stalls stops its heartbeats).
 */
import assert from 'node:assert/strict';
import { Conclave, type WatchEvent } from '@conclave/client';
import { createThroughFailovers } from '../../harness/checks.js';
import { NemesisCluster } from '../../nemesis/cluster.js';

describe('regression: watches across a snapshot install on their member', function () {
  this.timeout(120_000);

  it('a recursive watcher on the installing follower gets every change, or WATCH_RESET', async () => {
    const cluster = await NemesisCluster.start({ members: 3, settings: { logLevel: 'info', snapshotCount: 50, snapshotCatchUpEntries: 10 } });
    try {
      const leader = await cluster.leader();
      const follower = cluster.current.find((id) => id !== leader)!;
      const others = cluster.current.filter((id) => id !== follower);
      const writer = await Conclave.connect({ endpoints: cluster.endpoints(others) });
      await createThroughFailovers(writer, '/w');
      const watcher = await Conclave.connect({ endpoints: cluster.endpoints([follower]), sessionTimeoutMs: 40_000 });
      const events: WatchEvent[] = [];
      await watcher.addWatch('/w', (e) => events.push(e), { recursive: true });
      cluster.partition([[follower], others]);
      for (let i = 0; i < 300; i++) await createThroughFailovers(writer, `/w/n${i}`);
      cluster.healNetwork(() => false);
      const deadline = Date.now() + 30_000;
      while ((await cluster.status(follower))!.appliedIndex < (await cluster.status(await cluster.leader()))!.commitIndex) {
        assert.ok(Date.now() < deadline, 'the follower did not catch up');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(cluster.logTail(follower, 200), /installed snapshot from the leader/);
      await watcher.sync('/');
      await watcher.exists('/w');
      const created = events.filter((e) => e.type === 'NODE_CREATED').length;
      const reset = events.some((e) => e.type === 'WATCH_RESET');
      assert.ok(created === 300 || reset, `the watcher got ${created} of 300 creations and no WATCH_RESET`);
      await Promise.all([watcher.close(), writer.close()]);
    } finally {
      await cluster.stop();
    }
  });
});
