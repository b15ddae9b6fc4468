/**
 * Real multi-process clusters (issue 3): failover under load with no acknowledged write lost,
 * catch-up of a restarted member by log and by snapshot, live membership changes, and refusal of
 * stale or foreign members. Runs with `npm run test:cluster`.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { createThroughFailovers } from '../../harness/checks.js';
import { TestCluster, freePort } from '../../harness/cluster.js';
import { unaryStubs } from '../../harness/raw.js';
import { createLoadRoot, firstAckAfter, verifyLoad as verify, writeLoad } from '../../harness/workload.js';

describe('a real 3-member cluster', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  beforeEach(async () => {
    cluster = await TestCluster.start({ members: 3, settings: { snapshotCount: 500, snapshotCatchUpEntries: 100 } });
    await createLoadRoot(cluster.endpoints());
  });
  afterEach(async () => {
    await cluster.stop();
  });

  it('kill -9 of the leader under load: a new leader commits writes within 2 s; no acknowledged write is lost', async () => {
    const load = writeLoad(cluster.endpoints(), 6);
    await new Promise((r) => setTimeout(r, 1_500));
    const leader = await cluster.leader();
    const killedAt = Date.now();
    await cluster.kill(leader);
    const deadline = killedAt + 5_000;
    while (firstAckAfter(load, killedAt) === undefined) {
      assert.ok(Date.now() < deadline, 'no write acknowledged within 5 s of the kill');
      await new Promise((r) => setTimeout(r, 10));
    }
    const failover = firstAckAfter(load, killedAt)! - killedAt;
    console.log(`      failover: first write acknowledged ${failover} ms after kill -9 of leader ${leader}`);
    assert.ok(failover < 2_000, `failover took ${failover} ms`);
    await new Promise((r) => setTimeout(r, 1_000));
    await load.stop();
    await cluster.restart(leader);
    const items = await verify(cluster.endpoints(), load.acked);
    assert.ok(items >= load.acked.size);
  });

  it('a killed member restarts and catches up, by log and (after compaction) by snapshot', async () => {
    const leader = await cluster.leader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.kill(follower);
    const load = writeLoad(cluster.endpoints([1, 2, 3].filter((id) => id !== follower)), 4);
    await new Promise((r) => setTimeout(r, 300));
    await load.stop();
    await cluster.restart(follower);
    await waitCaughtUp(cluster, follower);
    await cluster.kill(follower);
    const more = writeLoad(cluster.endpoints([1, 2, 3].filter((id) => id !== follower)), 6, 'm');
    // Enough writes for the leader to snapshot and compact past the follower's log.
    while (more.acked.size < 1_500) await new Promise((r) => setTimeout(r, 100));
    await more.stop();
    await cluster.restart(follower);
    await waitCaughtUp(cluster, follower);
    const log = cluster.logTail(follower, 200);
    assert.match(log, /installed snapshot from the leader/);
    await verify(`127.0.0.1:${cluster.member(follower).clientPort}`, new Set([...load.acked, ...more.acked]));
  });

  it('adds a learner, promotes it and removes a member, live under load', async () => {
    const load = writeLoad(cluster.endpoints(), 4);
    const stubs = unaryStubs(cluster.endpoints());
    try {
      const id = 4;
      const spec = { id, clientPort: await freePort(), peerPort: await freePort(), metricsPort: await freePort(), dataDir: path.join(cluster.dir, 'member-4'), logFile: path.join(cluster.dir, 'member-4.log'), process: undefined, exited: undefined };
      cluster.members.set(id, spec);
      await stubs.cluster.addMember({ id, peerAddress: `127.0.0.1:${spec.peerPort}`, clientAddress: `127.0.0.1:${spec.clientPort}` });
      await cluster.launch(spec, { join: true });
      await cluster.waitReady([id]);
      let members;
      for (let attempt = 0; ; attempt++) {
        try {
          members = await stubs.cluster.promoteMember({ id });
          break;
        } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.deepEqual(members.members.map((m: { id: number; voter: boolean }) => [m.id, m.voter]).sort(), [[1, true], [2, true], [3, true], [4, true]]);
      // Once in the cluster, a member restarts from its data like any other (no --join needed).
      await cluster.kill(id);
      await cluster.restart(id);
      const leader = await cluster.leader();
      const victim = [1, 2, 3].find((m) => m !== leader)!;
      await unaryStubs(cluster.endpoints([leader])).cluster.removeMember({ id: victim });
      await cluster.kill(victim);
      await new Promise((r) => setTimeout(r, 500));
      await load.stop();
      const survivor = unaryStubs(cluster.endpoints([leader]));
      const after = await survivor.cluster.members({});
      survivor.close();
      assert.deepEqual(after.removedIds, [victim]);
      await verify(cluster.endpoints([1, 2, 3, 4].filter((m) => m !== victim)), load.acked);
      // The removed member may not come back with its id.
      await assert.rejects(cluster.restart(victim), /exited/);
    } finally {
      stubs.close();
      await load.stop();
    }
  });

  it('refuses a member carrying another cluster\'s data', async () => {
    const other = await TestCluster.start({ members: 1 });
    try {
      await other.kill(1);
      await cluster.kill(3);
      rmSync(cluster.member(3).dataDir, { recursive: true, force: true });
      cpSync(other.member(1).dataDir, cluster.member(3).dataDir, { recursive: true });
      await assert.rejects(cluster.restart(3), /exited/);
      assert.match(cluster.logTail(3, 5), /cluster|member/i);
    } finally {
      await other.stop();
    }
  });
});

describe('a real 5-member cluster', function () {
  this.timeout(180_000);

  it('survives kill -9 of the leader and a follower under load, losing nothing acknowledged', async () => {
    const cluster = await TestCluster.start({ members: 5 });
    try {
      await createLoadRoot(cluster.endpoints());
      const load = writeLoad(cluster.endpoints(), 6);
      await new Promise((r) => setTimeout(r, 1_000));
      const leader = await cluster.leader();
      const follower = [1, 2, 3, 4, 5].find((id) => id !== leader)!;
      await cluster.kill(leader);
      await cluster.kill(follower);
      const size = load.acked.size;
      const deadline = Date.now() + 5_000;
      while (load.acked.size <= size + 50) {
        assert.ok(Date.now() < deadline, 'the 3 survivors did not make progress');
        await new Promise((r) => setTimeout(r, 20));
      }
      await cluster.restart(leader);
      await cluster.restart(follower);
      await load.stop();
      await verify(cluster.endpoints(), load.acked);
    } finally {
      await cluster.stop();
    }
  });
});

async function waitCaughtUp(cluster: TestCluster, id: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const leader = await cluster.leader();
    const [l, m] = await Promise.all([cluster.status(leader), cluster.status(id)]);
    if (l && m && m.appliedIndex >= l.commitIndex) return;
    if (Date.now() > deadline) throw new Error(`member ${id} did not catch up: ${m?.appliedIndex} of ${l?.commitIndex}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('sessions and watches across member failures', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ members: 3 });
  });
  after(async () => cluster.stop());

  it('a session survives the death of its member and of the leader; its ephemerals stay (fresh timeout after a leader change)', async () => {
    const client = await Conclave.connect({ endpoints: cluster.endpoints(), sessionTimeoutMs: 4_000 });
    await client.create('/owned', '', { kind: 'EPHEMERAL' });
    const states: string[] = [];
    client.onState((s) => states.push(s));
    const leader = await cluster.leader();
    const first = client.memberId;
    await cluster.kill(first);
    if (first !== leader) await cluster.kill(leader);
    if (first !== leader) await cluster.restart(leader);
    for (let i = 0; i < 100 && client.state !== 'reconnected' && client.state !== 'connected'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(['reconnected', 'connected'].includes(client.state), `state ${client.state}`);
    assert.notEqual(client.memberId, first);
    await new Promise((r) => setTimeout(r, 5_000));
    assert.ok(await client.exists('/owned'), 'the ephemeral node of the live session is still there');
    assert.equal(client.state === 'expired', false);
    await client.close();
    await cluster.restart(first).catch(() => undefined);
  });

  it('watches survive a member switch: every change exactly once, in order', async () => {
    await cluster.waitReady();
    const watcher = await Conclave.connect({ endpoints: cluster.endpoints(), sessionTimeoutMs: 5_000 });
    const writer = await Conclave.connect({ endpoints: cluster.endpoints() });
    await writer.create('/watched');
    await watcher.sync('/watched'); // the watcher's member has applied the create before the watch starts
    const events: { path: string; zxid: number }[] = [];
    await watcher.addWatch('/watched', (e) => events.push(e), { recursive: true });
    const total = 200;
    const writing = (async () => {
      for (let i = 0; i < total; i++) await createThroughFailovers(writer, `/watched/n${i}`);
    })();
    await new Promise((r) => setTimeout(r, 300));
    const victim = watcher.memberId;
    await cluster.kill(victim);
    await writing;
    for (let i = 0; i < 200 && events.length < total; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(events.length, total, `every change once; got ${JSON.stringify(events.map((e) => e.path))}`);
    assert.equal(new Set(events.map((e) => e.path)).size, total, 'no duplicates');
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.zxid > events[i - 1]!.zxid, 'in zxid order');
    await Promise.all([watcher.close(), writer.close()]);
    await cluster.restart(victim);
  });
});

describe('growing a cluster from a single founder', function () {
  this.timeout(120_000);

  it('members that joined know only the founder, yet follow whichever member leads', async () => {
    const cluster = await TestCluster.start({ members: 4, founders: 1, settings: { join: false } });
    const admin = unaryStubs(cluster.endpoints([1]));
    try {
      const add = async (id: number) => {
        const m = cluster.member(id);
        await admin.cluster.addMember({ id, peerAddress: `127.0.0.1:${m.peerPort}`, clientAddress: `127.0.0.1:${m.clientPort}` });
        await cluster.launch(m, { join: true });
        for (let attempt = 0; ; attempt++) {
          try {
            return await unaryStubs(cluster.endpoints([await cluster.leader()])).cluster.promoteMember({ id });
          } catch (error) {
            if (attempt > 100) throw error;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      };
      await add(2);
      await add(3);
      await unaryStubs(cluster.endpoints([1])).cluster.transferLeadership({ to: 2 });
      assert.equal(await cluster.leader(), 2);
      const members = await add(4);
      assert.deepEqual(members.members.map((m: { id: number; voter: boolean }) => [m.id, m.voter]).sort(), [[1, true], [2, true], [3, true], [4, true]]);
      const client = await Conclave.connect({ endpoints: cluster.endpoints([4]) });
      await client.create('/grown', 'yes');
      await client.sync('/grown');
      assert.equal((await client.get('/grown')).data.toString(), 'yes');
      await client.close();
    } finally {
      admin.close();
      await cluster.stop();
    }
  });
});
