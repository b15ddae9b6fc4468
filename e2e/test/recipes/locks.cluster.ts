/**
 * Locks under contention from separate processes against a real 3-member cluster, with the
 * leader and then a follower killed (kill -9) mid-run: mutual exclusion holds (checked on a shared
 * log of (token, enter, exit) in real-time order, with strictly increasing fencing tokens), and
 * every worker gets all its rounds (no waiter starves).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestCluster } from '../../harness/cluster.js';
import { assertBounded, assertExclusive, assertReadWrite, readLog } from '../../harness/checks.js';
import { killDuring } from '../../harness/chaos.js';
import { allDone, killWorkers, startWorker } from '../../harness/workers.js';
import type { WorkerConfig } from '../../harness/recipe-worker.js';

describe('recipes under failures: locks (separate processes, real 3-member cluster)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let dir: string;

  beforeEach(async () => {
    cluster = await TestCluster.start({ members: 3 });
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-recipes-'));
  });
  afterEach(async () => {
    killWorkers();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `workers` workers of `role` with members killed meanwhile; returns the log. */
  async function contend(role: WorkerConfig['role'], workers: number, rounds: number, extra: Partial<WorkerConfig> = {}) {
    const log = path.join(dir, `${role}.log`);
    const procs = Array.from({ length: workers }, (_, id) =>
      startWorker({ role, endpoints: cluster.endpoints(), path: `/recipes/${role}`, log, id, rounds, holdMs: 15, ...extra }),
    );
    const total = workers * rounds;
    const exits = () => {
      try {
        return readLog(log).filter((s) => s.e === 'exit').length;
      } catch {
        return 0;
      }
    };
    const kills = await killDuring(cluster, exits, total);
    await allDone(procs);
    const entries = readLog(log);
    assert.equal(entries.filter((s) => s.e === 'exit').length, total, 'every round of every worker');
    for (let id = 0; id < workers; id++) assert.equal(entries.filter((s) => s.w === id && s.e === 'enter').length, rounds, `worker ${id} starved`);
    return { entries, kills };
  }

  it('Mutex: 6 processes x 12 rounds; no overlap, tokens increase, nobody starves', async () => {
    const { entries, kills } = await contend('mutex', 6, 12);
    assert.equal(assertExclusive(entries), 72);
    console.log(`      72 exclusive sections; killed leader ${kills.leader}, then follower ${kills.follower}`);
  });

  it('ReadWriteLock: 6 processes, a third of the rounds writing; writers alone, readers together', async () => {
    const { entries } = await contend('rwlock', 6, 12, { holdMs: 25 });
    const peak = assertReadWrite(entries);
    assert.ok(peak >= 2, `readers never shared the lock (peak ${peak})`);
    const writes = entries.filter((s) => s.k === 'w' && s.e === 'enter').map((s) => s.t);
    for (let i = 1; i < writes.length; i++) assert.ok(writes[i]! > writes[i - 1]!, 'write tokens increase');
  });

  it('Semaphore (3 leases): 6 processes x 10 rounds; never more than 3 holders, each lease its own token', async () => {
    const { entries } = await contend('semaphore', 6, 10, { count: 3, holdMs: 40 });
    assert.equal(assertBounded(entries, 3), 3);
  });
});
