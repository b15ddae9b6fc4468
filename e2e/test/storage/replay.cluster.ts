/**
 * A restarted member replays the log it finds on disk in turns (node.ts APPLY_TURN_MS): it answers
 * its health checks and takes client connections while it replays, and serves its client once it
 * has replayed. Three real members with snapshots out of reach, so that the restarted member
 * replays every entry.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';

const MiB = 1024 * 1024;
const NODES = 200_000;

describe('a member replaying its log', function () {
  this.timeout(180_000);

  it('answers its health checks and its clients while it replays, and serves them once it has', async () => {
    const cluster = await TestCluster.start({ members: 3, settings: { snapshotCount: 1_000_000, snapshotLogBytes: 4096 * MiB } });
    try {
      const leader = await cluster.leader();
      const follower = [1, 2, 3].find((id) => id !== leader)!;
      const writer = await Conclave.connect({ endpoints: cluster.endpoints() });
      try {
        await writer.create('/r');
        const batches = Array.from({ length: NODES / 100 }, (_, b) => b);
        const write = async () => {
          for (let b = batches.shift(); b !== undefined; b = batches.shift()) {
            await writer.multi(Array.from({ length: 100 }, (_, i) => ({ op: 'create' as const, path: `/r/n${b * 100 + i}`, data: 'x'.repeat(32) })));
          }
        };
        await Promise.all(Array.from({ length: 8 }, write));
        await writer.create('/r/last', 'marker');
      } finally {
        await writer.close();
      }
      const target = (await cluster.status(leader))!.commitIndex;
      await cluster.kill(follower);

      const launched = cluster.launch(cluster.member(follower));
      // Poll the member's /status from its spawn until it has replayed: it must answer mid-replay.
      const midReplay: number[] = [];
      const readiness: string[] = [];
      let replayed = false;
      while (!replayed) {
        const status = await cluster.status(follower);
        if (status !== undefined && status.appliedIndex < target) {
          midReplay.push(status.appliedIndex);
          const ready = await fetch(`http://127.0.0.1:${cluster.member(follower).metricsPort}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
          if (ready !== undefined) readiness.push(`${ready.status} ${await ready.text()}`);
        }
        if (status !== undefined && status.appliedIndex >= target) replayed = true;
        await new Promise((r) => setTimeout(r, 10));
      }
      await launched;
      console.log(`      ${midReplay.length} status answers while it replayed, applied ${midReplay[0]} to ${midReplay.at(-1)} of ${target}`);
      assert.match(cluster.logTail(follower, 50), /"entries":\d+,"index":\d+,"nodes":\d+,"ms":\d+,"msg":"replayed the log"/);
      assert.ok(midReplay.length >= 2, `the member answered ${midReplay.length} status requests while it replayed`);
      assert.ok(midReplay.some((applied) => applied > 0), 'some answered after the replay had begun');
      // not ready while far behind (server/src/member.ts ready()), and saying why
      assert.ok(readiness.some((r) => /^503 .*catching up: applied \d+ of \d+/.test(r)), `readiness answers while replaying: ${readiness.slice(0, 3).join(' | ')}`);

      // A client of this member alone reads what the log held.
      const client = await Conclave.connect({ endpoints: cluster.endpoints([follower]) });
      try {
        assert.equal((await client.get('/r/last')).data.toString(), 'marker');
        assert.equal((await client.getChildren('/r')).length, NODES + 1);
      } finally {
        await client.close();
      }
    } finally {
      await cluster.stop();
    }
  });
});
