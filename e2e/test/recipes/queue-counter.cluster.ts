/**
 * Queues and counters from separate processes against a real 3-member cluster, with the leader
 * and then a follower killed mid-run: the queue loses and duplicates nothing (FIFO and priority),
 * and the counter applies every increment exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { readLog } from '../../harness/checks.js';
import { killDuring } from '../../harness/chaos.js';
import { allDone, killWorkers, startWorker } from '../../harness/workers.js';

type Entry = { w: number; e: string; item?: string; after?: number };

describe('recipes under failures: queues and counters (separate processes, real 3-member cluster)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let dir: string;

  beforeEach(async () => {
    cluster = await TestCluster.start({ members: 3 });
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-queue-'));
  });
  afterEach(async () => {
    killWorkers();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const entries = (log: string): Entry[] => {
    try {
      return readLog(log) as unknown as Entry[];
    } catch {
      return [];
    }
  };

  for (const priority of [false, true]) {
    it(`${priority ? 'DistributedPriorityQueue' : 'DistributedQueue'}: 3 producers x 80 items, 3 consumers; every item taken exactly once`, async () => {
      const log = path.join(dir, 'queue.log');
      const queuePath = `/queues/${priority ? 'priority' : 'fifo'}`;
      const common = { endpoints: cluster.endpoints(), path: queuePath, log, priority };
      const consumers = [0, 1, 2].map((id) => startWorker({ role: 'consumer', id: 10 + id, ...common }));
      const producers = [0, 1, 2].map((id) => startWorker({ role: 'producer', id, items: 80, ...common }));
      const total = 240;
      await killDuring(cluster, () => entries(log).filter((e) => e.e === 'take').length, total);
      await allDone(producers);
      const taken = () => entries(log).filter((e) => e.e === 'take').length;
      const deadline = Date.now() + 60_000;
      while (taken() < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const c of consumers) c.send('exit');
      const results = await allDone(consumers);
      const log_ = entries(log);
      const put = log_.filter((e) => e.e === 'put').map((e) => e.item!);
      const got = log_.filter((e) => e.e === 'take').map((e) => e.item!);
      assert.equal(put.length, total, 'every put acknowledged');
      assert.deepEqual(put.filter((item) => !got.includes(item)), [], 'lost items');
      assert.equal(new Set(got).size, got.length, 'an item was taken twice');
      assert.equal(got.length, total);
      assert.ok(results.every((r) => (r.taken as number) > 0), 'every consumer took items');
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      assert.deepEqual((await client.getChildren(queuePath)).filter((c) => c !== '.claims'), [], 'nothing left behind');
      await client.close();
      if (!priority) {
        // One producer's items come out in the order put (per consumer: strictly increasing).
        for (const c of [10, 11, 12]) {
          for (const p of [0, 1, 2]) {
            const seq = log_.filter((e) => e.w === c && e.e === 'take' && e.item!.startsWith(`${p}-`)).map((e) => Number(e.item!.split('-')[1]));
            for (let i = 1; i < seq.length; i++) assert.ok(seq[i]! > seq[i - 1]!, `consumer ${c} took ${p}-${seq[i - 1]} before ${p}-${seq[i]}`);
          }
        }
      }
    });
  }

  it('DistributedCounter: 5 processes x 40 increments; every result distinct, the total exact', async () => {
    const log = path.join(dir, 'counter.log');
    const workers = Array.from({ length: 5 }, (_, id) => startWorker({ role: 'counter', endpoints: cluster.endpoints(), path: '/counters/c', log, id, rounds: 40 }));
    await killDuring(cluster, () => entries(log).length, 200);
    await allDone(workers);
    const afters = entries(log).map((e) => e.after!).sort((a, b) => a - b);
    assert.deepEqual(afters, Array.from({ length: 200 }, (_, i) => i + 1), 'each increment applied once, each result seen once');
    const client = await Conclave.connect({ endpoints: cluster.endpoints() });
    assert.equal((await client.get('/counters/c')).data.toString(), '200');
    await client.close();
  });
});
