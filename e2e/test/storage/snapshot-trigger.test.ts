/**
 * When a member snapshots (node.ts maybeSnapshot): every `snapshotCount` entries, and also once the
 * entries since the last snapshot hold more than twice its size and `snapshotLogBytes`, so that large
 * values cannot grow the log (and a restart's replay) far past the size of the state. One real
 * member with a snapshotCount it never reaches, written 1 MB values to one node.
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

  it('a log of large writes is snapshotted past snapshotLogBytes, long before snapshotCount entries', async () => {
    const cluster = await TestCluster.start({ members: 1, settings: { snapshotCount: 1_000_000, snapshotLogBytes: 32 * 1024 * 1024, logLevel: 'info' } });
    try {
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      const value = Buffer.alloc(1_000_000, 7);
      await client.create('/big', value);
      for (let i = 0; i < 25; i++) await client.set('/big', value);
      assert.deepEqual(snapshotsTaken(cluster.member(1).dataDir), [], 'no snapshot below 32 MiB of log');
      for (let i = 0; i < 10; i++) await client.set('/big', value);
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
});
