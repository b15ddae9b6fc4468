/**
 * The log held in memory is bounded by `logMemoryBytes` (node.ts trimLog), whether or not a snapshot
 * covers the entries it drops; a follower that needs dropped entries gets a snapshot taken for it
 * (node.ts sendSnapshot), and catches up; so does one that needs a snapshot while the log since the
 * latest one is long. Three real members with snapshotCount and snapshotLogBytes far out of reach,
 * so that no snapshot is taken but those the tests ask for.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { waitFor } from '../../harness/checks.js';
import { TestCluster } from '../../harness/cluster.js';

const MiB = 1024 * 1024;

/** Three members with `settings`, one follower killed, and a client on the other two. */
async function withFollowerDown(
  settings: Record<string, string | number>,
  body: (c: { cluster: TestCluster; leader: number; follower: number; client: Conclave }) => Promise<void>,
): Promise<void> {
  const cluster = await TestCluster.start({ members: 3, settings });
  try {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.kill(follower);
    const client = await Conclave.connect({ endpoints: cluster.endpoints([1, 2, 3].filter((id) => id !== follower)) });
    try {
      await body({ cluster, leader, follower, client });
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stop();
  }
}

/** Restarts the follower and waits until it has applied what the leader committed. */
async function restartAndCatchUp(cluster: TestCluster, leader: number, follower: number): Promise<void> {
  await cluster.restart(follower);
  await waitFor(async () => (await cluster.status(follower))?.appliedIndex === (await cluster.status(leader))?.commitIndex, 30_000, 'the follower catching up');
}

describe('the log kept in memory', function () {
  this.timeout(120_000);

  it('stays within logMemoryBytes without snapshots, and a follower behind it catches up by a snapshot taken for it', async () => {
    const settings = { logLevel: 'info', logMemoryBytes: MiB, snapshotCount: 1_000_000, snapshotLogBytes: 1024 * MiB };
    await withFollowerDown(settings, async ({ cluster, leader, follower, client }) => {
      const value = Buffer.alloc(100_000, 3);
      for (let i = 0; i < 60; i++) await client.create(`/big-${i}`, value);

      const status = (await cluster.status(leader))!;
      assert.ok(status.logMemoryBytes <= 1.25 * MiB + 100_100, `the leader holds ${status.logMemoryBytes} bytes of log (budget 1 MiB + a quarter)`);
      assert.equal(status.snapshotIndex, 0, 'no snapshot taken yet');
      assert.ok(status.logFirstIndex > 20, `entries were dropped from memory (first index held: ${status.logFirstIndex})`);

      await restartAndCatchUp(cluster, leader, follower);
      assert.match(cluster.logTail(leader, 200), /taking a snapshot for a member: the log kept in memory no longer reaches the latest snapshot/);
      assert.match(cluster.logTail(leader, 200), new RegExp(`"member":${follower},"index":\\d+,"msg":"streaming the snapshot to the member as it is taken"`));
      assert.doesNotMatch(cluster.logTail(leader, 200), /snapshot transfer failed/);
      // restored from its records as they streamed in, not from the file afterwards (node.ts onSnapshot)
      assert.match(cluster.logTail(follower, 200), /"restoredWhileReceiving":true,"msg":"installed snapshot from the leader"/);

      const reader = await Conclave.connect({ endpoints: cluster.endpoints([follower]) });
      const children = await reader.getChildren('/');
      assert.equal(children.filter((c) => c.startsWith('big-')).length, 60);
      assert.ok((await reader.get('/big-59')).data.equals(value));
      await reader.close();
    });
  });

  it('a follower that needs a snapshot gets a new one when the log since the latest holds more than a third of its bytes', async () => {
    // No snapshot but the one asked for, no entries kept behind it: a follower behind it needs one.
    const settings = { logLevel: 'info', snapshotCount: 1_000_000, snapshotLogBytes: 1024 * MiB, snapshotCatchUpEntries: 0 };
    await withFollowerDown(settings, async ({ cluster, leader, follower, client }) => {
      for (let i = 0; i < 20; i++) await client.create(`/small-${i}`, Buffer.alloc(100, 1));
      const snapshotIndex = await client.cluster.takeSnapshot({ endpoint: cluster.endpoints([leader]) });
      // the tail: 2 MB of entries against a snapshot of a few KB, all still in the leader's memory
      const value = Buffer.alloc(100_000, 4);
      for (let i = 0; i < 20; i++) await client.create(`/tail-${i}`, value);
      const status = (await cluster.status(leader))!;
      assert.equal(status.snapshotIndex, snapshotIndex);
      assert.ok(status.logFirstIndex <= snapshotIndex + 1, `the log in memory reaches the snapshot (first index held: ${status.logFirstIndex})`);

      await restartAndCatchUp(cluster, leader, follower);
      assert.match(cluster.logTail(leader, 200), /taking a snapshot for a member: the log since the latest snapshot is long/);
      const installed = /"index":(\d+),"nodes":\d+,"restoredWhileReceiving":true,"msg":"installed snapshot from the leader"/.exec(cluster.logTail(follower, 200));
      assert.ok(installed, 'the follower installed a snapshot');
      assert.ok(Number(installed[1]) >= snapshotIndex + 20, `the snapshot sent covers the tail (index ${installed[1]}, the old one's ${snapshotIndex})`);

      const reader = await Conclave.connect({ endpoints: cluster.endpoints([follower]) });
      assert.ok((await reader.get('/tail-19')).data.equals(value));
      await reader.close();
    });
  });
});
