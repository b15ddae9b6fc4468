/**
 * One recipe client in its own process, for the multi-process recipe suites:
 *   node recipe-worker.js '{"role":"mutex","endpoints":"...","path":"/locks/x","log":"/tmp/log",...}'
 * It appends what it does to a shared log (one JSON line per write, O_APPEND, so the kernel
 * orders the lines of all workers in real time), prints one JSON result line on stdout when done,
 * and exits 0 (1 on failure, with the error on stderr). Long-lived roles (cache, group watcher)
 * answer "dump" and "exit" lines on stdin.
 */
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  Conclave,
  DistributedCounter,
  DistributedPriorityQueue,
  DistributedQueue,
  DoubleBarrier,
  Group,
  GroupMember,
  Barrier,
  LeaderElection,
  LeaderLatch,
  Mutex,
  NodeCache,
  ReadWriteLock,
  Semaphore,
  TreeCache,
} from '@conclave/client';

export interface WorkerConfig {
  role: 'mutex' | 'rwlock' | 'semaphore' | 'election' | 'latch' | 'producer' | 'consumer' | 'counter' | 'barrier' | 'double-barrier' | 'member' | 'group-watcher' | 'cache';
  endpoints: string;
  path: string;
  /** the shared log file */
  log: string;
  /** worker id */
  id: number;
  rounds?: number;
  /** time in a critical section (or between writes while leader), ms */
  holdMs?: number;
  /** semaphore leases; double-barrier participants */
  count?: number;
  /** producer: priority queue; items to put */
  priority?: boolean;
  items?: number;
  /** consumer: stop after this many empty polls in a row (the producers are done by then) */
  idleMs?: number;
  /** election: the fenced resource's URL */
  resource?: string;
  /** cache: how deep (0: the node only, a NodeCache) */
  depth?: number;
  sessionTimeoutMs?: number;
}

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const log = (entry: object) => appendFileSync(config.log, `${JSON.stringify({ w: config.id, ...entry })}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<object> {
  const client = await Conclave.connect({ endpoints: config.endpoints, sessionTimeoutMs: config.sessionTimeoutMs ?? 10_000, requestTimeoutMs: 30_000 });
  const rounds = config.rounds ?? 10;
  const hold = config.holdMs ?? 10;
  try {
    switch (config.role) {
      case 'mutex': {
        const mutex = new Mutex(client, config.path, { id: `w${config.id}` });
        for (let i = 0; i < rounds; i++) {
          const token = await mutex.acquire();
          log({ e: 'enter', t: token });
          await sleep(hold);
          log({ e: 'exit', t: token });
          await mutex.release();
        }
        return { rounds };
      }
      case 'rwlock': {
        const rw = new ReadWriteLock(client, config.path, { id: `w${config.id}` });
        for (let i = 0; i < rounds; i++) {
          const writer = (config.id + i) % 3 === 0;
          const lock = writer ? rw.writeLock : rw.readLock;
          const token = await lock.acquire();
          log({ e: 'enter', t: token, k: writer ? 'w' : 'r' });
          await sleep(hold);
          log({ e: 'exit', t: token, k: writer ? 'w' : 'r' });
          await lock.release();
        }
        return { rounds };
      }
      case 'semaphore': {
        const semaphore = new Semaphore(client, config.path, config.count ?? 2, { id: `w${config.id}` });
        for (let i = 0; i < rounds; i++) {
          const lease = await semaphore.acquire();
          log({ e: 'enter', t: lease.token });
          await sleep(hold);
          log({ e: 'exit', t: lease.token });
          await lease.release();
        }
        return { rounds };
      }
      case 'election':
        return await elect(client, rounds, hold);
      case 'latch': {
        // A latch per term: it leads, holds for a while, and closes (which hands leadership on).
        for (let i = 0; i < rounds; i++) {
          const latch = new LeaderLatch(client, config.path, { id: `w${config.id}` });
          latch.start();
          await latch.await();
          const token = latch.fencingToken!;
          log({ e: 'enter', t: token });
          const lost = new Promise<void>((resolve) => latch.onChange((leading) => !leading && resolve()));
          await Promise.race([sleep(hold), lost]);
          log({ e: 'exit', t: token });
          await latch.close();
        }
        return { rounds };
      }
      case 'barrier': {
        log({ e: 'waiting' });
        await new Barrier(client, config.path).wait();
        log({ e: 'passed' });
        return {};
      }
      case 'producer': {
        const queue = config.priority ? new DistributedPriorityQueue(client, config.path) : new DistributedQueue(client, config.path);
        for (let i = 0; i < (config.items ?? 100); i++) {
          const item = `${config.id}-${i}`;
          if (queue instanceof DistributedPriorityQueue) await queue.put(item, i % 5);
          else await queue.put(item);
          log({ e: 'put', item });
        }
        return { put: config.items ?? 100 };
      }
      case 'consumer': {
        // Takes until told to stop (the test knows when every item is in).
        const queue = config.priority ? new DistributedPriorityQueue(client, config.path) : new DistributedQueue(client, config.path);
        let stopping = false;
        void commands(client, () => ({})).then(() => (stopping = true));
        let taken = 0;
        while (!stopping) {
          try {
            const item = (await queue.take({ timeoutMs: 300 })).toString();
            log({ e: 'take', item });
            taken++;
          } catch (error) {
            if ((error as { code?: string }).code !== 'TIMEOUT') throw error;
          }
        }
        return { taken };
      }
      case 'counter': {
        const counter = new DistributedCounter(client, config.path);
        for (let i = 0; i < rounds; i++) log({ e: 'add', after: (await counter.increment()).after });
        return { rounds };
      }
      case 'double-barrier': {
        for (let round = 0; round < rounds; round++) {
          const barrier = new DoubleBarrier(client, `${config.path}/round-${round}`, config.count ?? 3, { id: `w${config.id}` });
          log({ e: 'enter', round });
          await barrier.enter();
          log({ e: 'entered', round });
          await sleep(hold + ((config.id * 37) % 50));
          log({ e: 'leave', round });
          await barrier.leave();
          log({ e: 'left', round });
        }
        return { rounds };
      }
      case 'member': {
        await new GroupMember(client, config.path, `w${config.id}`, `data-${config.id}`).join();
        log({ e: 'joined' });
        await commands(client, () => ({}));
        return {};
      }
      case 'group-watcher': {
        const stop = await new Group(client, config.path).watch((members) => console.log(JSON.stringify({ members: [...members.keys()].sort() })));
        await commands(client, () => ({}));
        await stop();
        return {};
      }
      case 'cache': {
        if (config.depth === 0) {
          const cache = new NodeCache(client, config.path);
          let changes = 0;
          cache.onChange(() => changes++);
          await cache.start();
          console.log(JSON.stringify({ ready: true }));
          await commands(client, () => ({ changes, nodes: cache.current ? { [config.path]: cache.current.data.toString() } : {} }));
          await cache.close();
          return {};
        }
        const cache = new TreeCache(client, config.path, config.depth === undefined ? {} : { maxDepth: config.depth });
        let resets = 0;
        cache.onEvent((e) => e.type === 'reset' && resets++);
        await cache.start();
        console.log(JSON.stringify({ ready: true }));
        await commands(client, () => ({
          resets,
          nodes: Object.fromEntries(cache.entries().map((n) => [n.path, n.data.toString()] as const).sort(([a], [b]) => (a < b ? -1 : 1))),
        }));
        await cache.close();
        return {};
      }
    }
  } finally {
    await client.close();
  }
}

/**
 * Campaigns `rounds` times. Each term writes 5 times to the fenced resource, `hold` ms apart, with
 * its token, then resigns; the exit is logged the moment leadership is lost. The writes do not
 * check for a loss on purpose: a process can always be paused between a check and a write, and
 * it is the resource, refusing an older token, that keeps a deposed leader out.
 */
async function elect(client: Conclave, rounds: number, hold: number): Promise<object> {
  const election = new LeaderElection(client, config.path, { id: `w${config.id}` });
  let terms = 0;
  let fenced = 0;
  let lost = 0;
  while (terms < rounds) {
    let leadership;
    try {
      leadership = await election.campaign();
    } catch (error) {
      if ((error as { code?: string }).code === 'SESSION_EXPIRED') return { terms, fenced, lost, expired: true };
      throw error;
    }
    const token = leadership.token;
    terms++;
    log({ e: 'enter', t: token, m: client.memberId });
    let exited = false;
    const exit = (wasLost: boolean) => {
      if (exited) return;
      exited = true;
      if (wasLost) lost++;
      log({ e: 'exit', t: token, lost: wasLost });
    };
    leadership.signal.addEventListener('abort', () => exit(true), { once: true });
    for (let i = 0; i < 5; i++) {
      await sleep(hold);
      const answer = await fetch(`${config.resource}/write?token=${token}&w=${config.id}`, { method: 'POST' });
      if (answer.status === 409) fenced++;
    }
    exit(false);
    await leadership.resign();
  }
  return { terms, fenced, lost };
}

/** Serves "dump" (prints `dump()` as one JSON line) and "exit" on stdin; resolves on exit or if the session ends. */
function commands(client: Conclave, dump: () => object): Promise<void> {
  return new Promise<void>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    const stop = client.onState((state) => {
      if (state === 'expired') {
        console.log(JSON.stringify({ expired: true }));
        finish();
      }
    });
    const finish = () => {
      stop();
      lines.close();
      resolve();
    };
    lines.on('line', (line) => {
      if (line === 'dump') console.log(JSON.stringify(dump()));
      else if (line === 'exit') finish();
    });
    lines.on('close', finish);
  });
}

main().then(
  (result) => {
    console.log(JSON.stringify({ done: true, ...result }));
    process.exit(0);
  },
  (error: Error) => {
    console.error(`worker ${config.id} (${config.role}) failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
