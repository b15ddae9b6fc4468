/**
 * A full disk on the leader of a real 3-member cluster (every member's data dir on its own tmpfs,
 * mounted by the test: needs root). The leader cannot append to its log: it stops serving writes,
 * the others elect a new leader and go on; once space returns the old leader catches up; nothing
 * acknowledged is lost and every member ends with the same tree.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { unaryStubs } from '../../harness/raw.js';
import { Tmpfs } from '../../harness/tmpfs.js';
import { memberDigest } from '../../nemesis/digest.js';

describe('a full disk on the leader of a 3-member cluster', function () {
  this.timeout(180_000);
  let dir: string;
  const mounts: Tmpfs[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-full3-'));
    for (let id = 1; id <= 3; id++) mounts.push(await Tmpfs.mount(path.join(dir, `member-${id}`), 24));
  });
  after(async () => {
    for (const m of mounts) await m.unmount();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the others take over, the full member refuses writes, then catches up; nothing acknowledged is lost', async () => {
    const cluster = await TestCluster.start({ members: 3, dir, settings: { logLevel: 'info' } });
    for (const m of mounts) await m.settle();
    const leader = await cluster.leader();
    const others = [1, 2, 3].filter((id) => id !== leader);
    const acked = new Set<string>();
    let writing = true;
    // A client of the other two: a session attached to the full member would get UNAVAILABLE until
    // its disk frees (the client does not move away from a member that refuses writes).
    const client = await Conclave.connect({ endpoints: cluster.endpoints(others), requestTimeoutMs: 5_000 });
    let writer: Promise<void> = Promise.resolve();
    try {
      await client.create('/d');
      writer = (async () => {
        for (let i = 0; writing; i++) {
          try {
            await client.create(`/d/n${i}`, 'x'.repeat(200));
            acked.add(`/d/n${i}`);
            // Slow enough that the others' disks (as small as the full one) never fill up.
            await new Promise((r) => setTimeout(r, 5));
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      })();
      const full = mounts[leader - 1]!;
      const filler = full.fill(256 * 1024);
      const before = acked.size;
      // The others elect a leader among themselves and go on.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const statuses = await Promise.all(others.map((id) => cluster.status(id)));
        const newLeader = statuses.find((s) => s?.role === 'leader')?.id;
        if (newLeader !== undefined && statuses.every((s) => s?.leader === newLeader) && acked.size >= before + 200) break;
        assert.ok(Date.now() < deadline, `no progress without the full leader: ${acked.size - before} writes, ${JSON.stringify(statuses)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // The full member refuses writes with a clear error: a new session (itself a write), a unary write.
      await assert.rejects(
        Conclave.connect({ endpoints: cluster.endpoints([leader]), connectTimeoutMs: 3_000, sessionTimeoutMs: 4_000 }),
        /cannot write its log/,
      );
      const stubs = unaryStubs(cluster.endpoints([leader]));
      const refused = await stubs.conclave.create({ path: '/d/unary' }).then(() => undefined, (e: Error & { code: string }) => e);
      stubs.close();
      assert.ok(refused, 'the member with the full disk took a write');
      assert.equal(refused.code, 'UNAVAILABLE', refused.message);
      assert.match(refused.message, /cannot write its log/);
      assert.match(cluster.logTail(leader, 200), /cannot write the log/);

      full.free(filler);
      await new Promise((r) => setTimeout(r, 1_000));
      writing = false;
      await writer;
      const caughtUp = Date.now() + 30_000;
      for (;;) {
        const statuses = await Promise.all([1, 2, 3].map((id) => cluster.status(id)));
        const commit = Math.max(...statuses.map((s) => s?.commitIndex ?? 0));
        if (statuses.every((s) => s && s.appliedIndex >= commit)) break;
        assert.ok(Date.now() < caughtUp, `the member did not catch up after space returned: ${JSON.stringify(statuses)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const names = new Set((await client.getChildren('/d', { linearizable: true })).map((n) => `/d/${n}`));
      const lost = [...acked].filter((p) => !names.has(p));
      assert.deepEqual(lost, [], 'acknowledged writes lost');
      const digests = await Promise.all([1, 2, 3].map((id) => memberDigest(cluster.endpoints([id]))));
      assert.equal(new Set(digests.map((d) => d.digest)).size, 1, 'the members\' trees differ');
    } finally {
      writing = false;
      await writer;
      await client.close().catch(() => undefined);
      await cluster.stop({ keepData: true });
    }
  });
});
