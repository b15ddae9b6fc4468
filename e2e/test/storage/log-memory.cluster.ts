/**
 * The log held in memory is bounded by `logMemoryBytes` (node.ts trimLog), whether or not a snapshot
 * covers the entries it drops; a follower that needs dropped entries gets a snapshot taken for it
 * (node.ts sendSnapshot), and catches up. Three real members with snapshotCount and
 * snapshotLogBytes far out of reach, so that no snapshot is taken but for that follower.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { waitFor } from '../../harness/checks.js';
import { TestCluster } from '../../harness/cluster.js';

const MiB = 1024 * 1024;

describe('the log kept in memory', function () {
  this.timeout(120_000);

  it('stays within logMemoryBytes without snapshots, and a follower behind it catches up by a snapshot taken for it', async () => {
    const settings = { logLevel: 'info', logMemoryBytes: MiB, snapshotCount: 1_000_000, snapshotLogBytes: 1024 * MiB };
    const cluster = await TestCluster.start({ members: 3, settings });
    try {
      const leader = await cluster.leader();
      const follower = [1, 2, 3].find((id) => id !== leader)!;
      await cluster.kill(follower);
      const client = await Conclave.connect({ endpoints: cluster.endpoints([1, 2, 3].filter((id) => id !== follower)) });
      const value = Buffer.alloc(100_000, 3);
      for (let i = 0; i < 60; i++) await client.create(`/big-${i}`, value);

      const status = (await cluster.status(leader))!;
      assert.ok(status.logMemoryBytes <= 1.25 * MiB + 100_100, `the leader holds ${status.logMemoryBytes} bytes of log (budget 1 MiB + a quarter)`);
      assert.equal(status.snapshotIndex, 0, 'no snapshot taken yet');
      assert.ok(status.logFirstIndex > 20, `entries were dropped from memory (first index held: ${status.logFirstIndex})`);

      await cluster.restart(follower);
      await waitFor(async () => (await cluster.status(follower))?.appliedIndex === (await cluster.status(leader))?.commitIndex, 30_000, 'the follower catching up');
      assert.match(cluster.logTail(leader, 200), /taking a snapshot for a member behind the log kept in memory/);
      assert.match(cluster.logTail(leader, 200), new RegExp(`"member":${follower},"index":\\d+,"msg":"streaming the snapshot to the member as it is taken"`));
      assert.doesNotMatch(cluster.logTail(leader, 200), /snapshot transfer failed/);
      // restored from its records as they streamed in, not from the file afterwards (node.ts onSnapshot)
      assert.match(cluster.logTail(follower, 200), /"restoredWhileReceiving":true,"msg":"installed snapshot from the leader"/);

      const reader = await Conclave.connect({ endpoints: cluster.endpoints([follower]) });
      const children = await reader.getChildren('/');
      assert.equal(children.filter((c) => c.startsWith('big-')).length, 60);
      assert.ok((await reader.get('/big-59')).data.equals(value));
      await Promise.all([reader.close(), client.close()]);
    } finally {
      await cluster.stop();
    }
  });
});
