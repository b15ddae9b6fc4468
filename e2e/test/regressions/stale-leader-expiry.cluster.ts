/**
 * Regression (server): a leader whose disk is full must not expire the sessions of the cluster
 * that went on without it.
 *
 * Found while testing disk-full on the leader (e2e/test/storage/disk-full.cluster.ts). The full
 * leader's Ready loop waits in persist() (node.ts) for the disk, so it never processes the soft
 * state that says it lost leadership: its role stays "leader" (its /status even shows two leaders,
 * the real one and itself, in the same term). Its tick() keeps running leaderDuties(): sessions
 * attached to other members are no longer touched on it, so after their timeout it proposes
 * CloseSession(expired) for them. Its Raft core, a follower by then, forwards those proposals to the
 * real leader as soon as the disk frees, and they commit: live sessions expire and their ephemeral
 * nodes vanish.
 *
 * Recipe: 3 members, each on its own tmpfs (needs root); a session with a short timeout attached
 * to a follower, owning an ephemeral node, kept alive; the leader's disk filled for longer than the
 * session timeout, then freed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { Tmpfs } from '../../harness/tmpfs.js';

describe('regression: a leader stuck on a full disk expiring live sessions', function () {
  this.timeout(120_000);
  let dir: string;
  const mounts: Tmpfs[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-stale-'));
    for (let id = 1; id <= 3; id++) mounts.push(await Tmpfs.mount(path.join(dir, `member-${id}`), 24));
  });
  after(async () => {
    for (const m of mounts) await m.unmount();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a live session on another member keeps its ephemeral node', async () => {
    const cluster = await TestCluster.start({ members: 3, dir, settings: { logLevel: 'info', tickMs: 1_000 } });
    try {
      const leader = await cluster.leader();
      const follower = [1, 2, 3].find((id) => id !== leader)!;
      const client = await Conclave.connect({ endpoints: cluster.endpoints([follower]), sessionTimeoutMs: 3_000 });
      await client.create('/owned', '', { kind: 'EPHEMERAL' });
      for (const m of mounts) await m.settle();
      const filler = mounts[leader - 1]!.fill(64 * 1024);
      // Writes through the follower fill the leader's last bytes and make it fail its append.
      const writer = await Conclave.connect({ endpoints: cluster.endpoints([follower]), requestTimeoutMs: 2_000 });
      for (let i = 0; i < 100; i++) await writer.create(`/fill-${i}`, 'x'.repeat(4_000)).catch(() => undefined);
      assert.match(cluster.logTail(leader, 100), /cannot write the log/);
      // Longer than the session timeout; the client keeps its session alive on the follower.
      for (let i = 0; i < 10; i++) {
        await client.exists('/owned');
        await new Promise((r) => setTimeout(r, 800));
      }
      mounts[leader - 1]!.free(filler);
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 500));
        assert.notEqual(client.state, 'expired', 'the live session was expired');
        assert.ok(await client.exists('/owned', { linearizable: true }), 'the live session\'s ephemeral node vanished');
      }
      await Promise.all([client.close(), writer.close()]);
    } finally {
      await cluster.stop({ keepData: true });
    }
  });
});
