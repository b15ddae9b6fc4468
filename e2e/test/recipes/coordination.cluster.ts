/**
 * Barriers, group membership and caches from separate processes against a real 3-member cluster,
 * with members killed: a barrier holds its waiters until removed, double barriers hold every
 * round, the group loses nobody to a member failure (and drops a dead process after its session
 * timeout), and tree and node caches end equal to the tree, including after a WATCH_RESET
 * (resynchronized when their member cannot replay what they missed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Barrier, Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { readLog, waitFor } from '../../harness/checks.js';
import { killDuring } from '../../harness/chaos.js';
import { allDone, killWorkers, startWorker, type Worker } from '../../harness/workers.js';

type Entry = { w: number; e: string; round?: number };

/** path -> data of every node under `root` (itself included), read with a quorum. */
async function tree(client: Conclave, root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (p: string) => {
    const { data } = await client.get(p, { linearizable: true });
    out[p] = data.toString();
    for (const child of await client.getChildren(p, { linearizable: true })) await walk(`${p}/${child}`);
  };
  await walk(root);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

async function dump(cache: Worker): Promise<{ resets: number; nodes: Record<string, string> }> {
  cache.send('dump');
  return (await cache.next('nodes')) as { resets: number; nodes: Record<string, string> };
}

describe('recipes under failures: barriers, groups, caches (separate processes, real 3-member cluster)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let dir: string;

  afterEach(async () => {
    killWorkers();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('with default settings', () => {
    beforeEach(async () => {
      cluster = await TestCluster.start({ members: 3 });
      dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-coord-'));
    });

    it('DoubleBarrier: 4 processes x 4 rounds; nobody past enter before all entered, nor past leave before all left', async () => {
      const log = path.join(dir, 'barrier.log');
      const workers = Array.from({ length: 4 }, (_, id) =>
        startWorker({ role: 'double-barrier', endpoints: cluster.endpoints(), path: '/barriers/b', log, id, rounds: 4, count: 4, holdMs: 200 }),
      );
      const entries = (): Entry[] => {
        try {
          return readLog(log) as unknown as Entry[];
        } catch {
          return [];
        }
      };
      await killDuring(cluster, () => entries().filter((e) => e.e === 'left').length, 16);
      await allDone(workers);
      const all = entries();
      for (let round = 0; round < 4; round++) {
        const at = (e: string) => all.map((x, i) => (x.round === round && x.e === e ? i : -1)).filter((i) => i >= 0);
        const [enter, entered, leave, left] = [at('enter'), at('entered'), at('leave'), at('left')];
        assert.deepEqual([enter.length, entered.length, leave.length, left.length], [4, 4, 4, 4], `round ${round}`);
        assert.ok(Math.max(...enter) < Math.min(...entered), `round ${round}: someone got in before everyone arrived`);
        assert.ok(Math.max(...leave) < Math.min(...left), `round ${round}: someone got out before everyone was leaving`);
      }
    });

    it('Barrier: waiters in 4 processes block through a leader kill, and all pass once it is removed', async () => {
      const log = path.join(dir, 'barrier-wait.log');
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      const barrier = new Barrier(client, '/barriers/gate');
      await barrier.set();
      const waiters = Array.from({ length: 4 }, (_, id) => startWorker({ role: 'barrier', endpoints: cluster.endpoints(), path: '/barriers/gate', log, id }));
      const count = (e: string) => {
        try {
          return readLog(log).filter((x) => x.e === (e as 'enter')).length;
        } catch {
          return 0;
        }
      };
      await waitFor(() => count('waiting') === 4, 30_000, 'four waiting');
      const leader = await cluster.leader();
      await cluster.kill(leader);
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(count('passed'), 0, 'nobody passed the raised barrier');
      await barrier.remove();
      await allDone(waiters);
      assert.equal(count('passed'), 4);
      await cluster.restart(leader);
      await client.close();
    });

    it('Group: members stay through member kills; a killed process leaves after its session timeout; watchers see each change', async () => {
      const log = path.join(dir, 'group.log');
      const common = { endpoints: cluster.endpoints(), path: '/groups/g', log, sessionTimeoutMs: 4_000 };
      const watcher = startWorker({ role: 'group-watcher', id: 100, ...common });
      const members = Array.from({ length: 4 }, (_, id) => startWorker({ role: 'member', id, ...common }));
      const view = () => [...watcher.lines].reverse().find((l) => 'members' in l)?.members as string[] | undefined;
      await waitFor(() => view()?.join() === 'w0,w1,w2,w3', 20_000, 'all four seen');
      const leader = await cluster.leader();
      await cluster.kill(leader);
      await new Promise((r) => setTimeout(r, 2_000));
      assert.equal(view()?.join(), 'w0,w1,w2,w3', 'a member failure drops nobody');
      await cluster.restart(leader);
      members[1]!.process.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(() => view()?.join() === 'w0,w2,w3', 20_000, 'the dead process dropped');
      console.log(`      dead member dropped after ${Date.now() - killedAt} ms (session timeout 4000 ms)`);
      members[2]!.send('exit');
      await waitFor(() => view()?.join() === 'w0,w3', 10_000, 'the leaver dropped at once');
      for (const m of [members[0]!, members[3]!]) m.send('exit');
      await waitFor(() => view()?.length === 0, 10_000, 'empty');
      watcher.send('exit');
      await allDone([watcher, members[0]!, members[2]!, members[3]!]);
    });

    it('TreeCache: 2 cache processes follow a busy queue (3 producers, 2 consumers) through member kills and end equal to the tree', async () => {
      const log = path.join(dir, 'cache.log');
      const root = '/caches/q';
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      await client.mkdirp(root);
      const caches = [0, 1].map((id) => startWorker({ role: 'cache', endpoints: cluster.endpoints(), path: root, log, id: 50 + id }));
      await Promise.all(caches.map((c) => c.next('ready')));
      const common = { endpoints: cluster.endpoints(), path: root, log };
      const consumers = [0, 1].map((id) => startWorker({ role: 'consumer', id: 10 + id, ...common }));
      const producers = [0, 1, 2].map((id) => startWorker({ role: 'producer', id, items: 60, ...common }));
      const puts = () => {
        try {
          return readLog(log).filter((e) => e.e === ('put' as string)).length;
        } catch {
          return 0;
        }
      };
      await killDuring(cluster, puts, 180);
      await allDone(producers);
      for (const c of consumers) c.send('exit');
      await allDone(consumers);
      const expected = await tree(client, root);
      for (const cache of caches) {
        await waitFor(async () => JSON.stringify((await dump(cache)).nodes) === JSON.stringify(expected), 10_000, `cache ${cache.config.id} equal to the tree`);
        cache.send('exit');
      }
      await allDone(caches);
      console.log(`      ${Object.keys(expected).length} nodes left in the tree after ${180} puts and the takes`);
      await client.close();
    });
  });

  it('TreeCache and NodeCache resync after WATCH_RESET: their member restarted without the history they needed', async () => {
    // A short event history: the restarted member cannot replay the 300 changes the cache missed.
    cluster = await TestCluster.start({ members: 3, settings: { historyEvents: 50 } });
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-reset-'));
    const root = '/caches/r';
    const writer = await Conclave.connect({ endpoints: cluster.endpoints() });
    await writer.mkdirp(root);
    for (let i = 0; i < 20; i++) await writer.create(`${root}/old-${i}`, 'x');
    const leader = await cluster.leader();
    const member = [1, 2, 3].find((id) => id !== leader)!;
    // The cache knows only this member, so it must come back to it.
    const cache = startWorker({ role: 'cache', endpoints: cluster.endpoints([member]), path: root, log: path.join(dir, 'log'), id: 1, sessionTimeoutMs: 30_000 });
    const nodeCache = startWorker({ role: 'cache', depth: 0, endpoints: cluster.endpoints([member]), path: root, log: path.join(dir, 'log'), id: 2, sessionTimeoutMs: 30_000 });
    await Promise.all([cache.next('ready'), nodeCache.next('ready')]);
    // Frozen until their member is back and caught up, so that it can no longer replay what they miss.
    for (const c of [cache, nodeCache]) c.process.kill('SIGSTOP');
    await cluster.kill(member);
    for (let i = 0; i < 20; i++) await writer.delete(`${root}/old-${i}`);
    for (let i = 0; i < 100; i++) {
      await writer.create(`${root}/new-${i}`, 'a');
      await writer.set(`${root}/new-${i}`, `v${i}`);
    }
    await writer.set(root, 'changed');
    await cluster.restart(member);
    const { commitIndex } = (await cluster.status(await cluster.leader()))!;
    await waitFor(async () => ((await cluster.status(member))?.appliedIndex ?? 0) >= commitIndex, 20_000, 'the member caught up');
    for (const c of [cache, nodeCache]) c.process.kill('SIGCONT');
    const expected = await tree(writer, root);
    let last: { resets: number; nodes: Record<string, string> } | undefined;
    await waitFor(async () => {
      last = await dump(cache);
      return JSON.stringify(last.nodes) === JSON.stringify(expected);
    }, 20_000, 'cache equal to the tree');
    assert.ok(last!.resets >= 1, 'the cache was resynchronized');
    await waitFor(async () => (await dump(nodeCache)).nodes[root] === 'changed', 20_000, 'the node cache resynchronized too');
    for (const c of [cache, nodeCache]) c.send('exit');
    await allDone([cache, nodeCache]);
    await writer.close();
  });
});
