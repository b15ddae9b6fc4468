/**
 * When a member snapshots (node.ts maybeSnapshot): every `snapshotCount` entries, and also once the
 * entries since the last snapshot hold more than twice its size and `snapshotLogBytes`, so that large
 * values cannot grow the log (and a restart's replay) far past the size of the state. Each member
 * goes by its own random share of these, from half to all of them. One real member with a
 * snapshotCount it never reaches, written 1 MB values to one node.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';

/** Snapshot files other than the founding one (index 0). */
function snapshotsTaken(dataDir: string): string[] {
  return readdirSync(path.join(dataDir, 'snap')).filter((f) => f.endsWith('.snap') && !f.startsWith('snap-0000000000000000-'));
}

describe('snapshot triggers', function () {
  this.timeout(120_000);

  it('a log of large writes is snapshotted by snapshotLogBytes, not below half of it, long before snapshotCount entries', async () => {
    const cluster = await TestCluster.start({ members: 1, settings: { snapshotCount: 1_000_000, snapshotLogBytes: 32 * 1024 * 1024, logLevel: 'info' } });
    try {
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      const value = Buffer.alloc(1_000_000, 7);
      await client.create('/big', value);
      for (let i = 0; i < 15; i++) await client.set('/big', value);
      assert.deepEqual(snapshotsTaken(cluster.member(1).dataDir), [], 'no snapshot below half of 32 MiB of log (the least share)');
      for (let i = 0; i < 20; i++) await client.set('/big', value);
      const deadline = Date.now() + 10_000;
      // The file appears at its rename; the log line comes after the log's compaction.
      while (!/snapshot taken/.test(cluster.logTail(1, 50))) {
        assert.ok(Date.now() < deadline, `no snapshot after 36 MB of log:\n${cluster.logTail(1, 10)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(snapshotsTaken(cluster.member(1).dataDir).length, 1);
      await client.close();
    } finally {
      await cluster.stop();
    }
  });

  it('members of one cluster snapshot at different indexes, each after half to all of snapshotCount entries', async () => {
    const cluster = await TestCluster.start({ members: 3, settings: { snapshotCount: 400, snapshotCatchUpEntries: 50, logLevel: 'info' } });
    const client = await Conclave.connect({ endpoints: cluster.endpoints() });
    try {
      await client.create('/n');
      // In rounds of 20: a member snapshots only what its own log holds (not while a burst runs ahead of its disk).
      for (let i = 0; i < 1_200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => client.set('/n', Buffer.from(String(i + j)))));
      const taken = (id: number) => [...cluster.logTail(id, 500).matchAll(/"index":(\d+)[^\n]*"snapshot taken"/g)].map((m) => Number(m[1]));
      const deadline = Date.now() + 10_000;
      while ([1, 2, 3].some((id) => taken(id).length < 2)) {
        assert.ok(Date.now() < deadline, `each member should have taken 2 snapshots by now: ${[1, 2, 3].map((id) => taken(id).join(',')).join(' / ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const indexes = [1, 2, 3].map(taken);
      for (const list of indexes) {
        // The cluster's own entries (the leader's first, the create, session ones) come before: a few over 200.
        assert.ok(list[0]! >= 200 && list[0]! <= 420, `first snapshot at ${list[0]}`);
        assert.ok(list[1]! - list[0]! >= 200 && list[1]! - list[0]! <= 420, `second snapshot ${list[1]! - list[0]!} entries after the first`);
      }
      assert.ok(new Set(indexes.map((list) => list.join(','))).size > 1, `members snapshot at different indexes: ${JSON.stringify(indexes)}`);
    } finally {
      await client.close();
      await cluster.stop();
    }
  });
});
