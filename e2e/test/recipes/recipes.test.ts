/**
 * The recipes against a real single-member server, many clients (sessions) in this process: the
 * quick check of each recipe's contract. The multi-process suites with members killed are in
 * *.cluster.ts next to this file.
 */
import assert from 'node:assert/strict';
import {
  Barrier,
  Conclave,
  DistributedCounter,
  DistributedPriorityQueue,
  DistributedQueue,
  DoubleBarrier,
  Group,
  GroupMember,
  LeaderElection,
  LeaderLatch,
  Mutex,
  NodeCache,
  ReadWriteLock,
  Semaphore,
  TreeCache,
  UnavailableError,
  type CacheEvent,
} from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { assertBounded, assertExclusive, assertReadWrite, waitFor, type Section } from '../../harness/checks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('recipes (real server, clients in one process)', function () {
  let cluster: TestCluster;
  let clients: Conclave[];
  let n = 0;
  const unique = (base: string) => `/${base}-${++n}`;
  const connect = (options: Parameters<typeof Conclave.connect>[0] = {}) => Conclave.connect({ endpoints: cluster.endpoints(), ...options });

  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { tickMs: 200, reapIntervalMs: 100 } });
    clients = await Promise.all(Array.from({ length: 5 }, () => connect({ sessionTimeoutMs: 4_000 })));
  });
  after(async () => {
    await Promise.all((clients ?? []).map((c) => c.close()));
    await cluster?.stop();
  });

  describe('Mutex', () => {
    it('excludes: 5 clients x 8 rounds, sections never overlap, fencing tokens increase', async () => {
      const path = unique('mutex');
      const log: Section[] = [];
      await Promise.all(
        clients.map(async (client, w) => {
          const mutex = new Mutex(client, path);
          for (let round = 0; round < 8; round++) {
            await mutex.withLock(async (token) => {
              log.push({ w, e: 'enter', t: token });
              await sleep(2);
              log.push({ w, e: 'exit', t: token });
            });
          }
        }),
      );
      assert.equal(assertExclusive(log), 40);
      assert.deepEqual(await clients[0]!.getChildren(path), [], 'every lock node was deleted');
    });

    it('is reentrant per object; tryAcquire fails while held elsewhere; acquire honours timeoutMs and signal', async () => {
      const path = unique('mutex');
      const a = new Mutex(clients[0]!, path);
      const b = new Mutex(clients[1]!, path);
      const token = await a.acquire();
      assert.equal(await a.acquire(), token, 'a nested acquire shares the token');
      assert.equal(a.fencingToken, token);
      assert.equal(await b.tryAcquire(), false);
      await assert.rejects(b.acquire({ timeoutMs: 100 }), (e: { code?: string }) => e.code === 'TIMEOUT');
      const aborted = new AbortController();
      const waiting = b.acquire({ signal: aborted.signal });
      aborted.abort(new Error('stop waiting'));
      await assert.rejects(waiting, /stop waiting/);
      await a.release();
      assert.ok(a.isHeld, 'still held after one of two releases');
      assert.equal(await b.tryAcquire(), false);
      await a.release();
      assert.ok(!a.isHeld);
      assert.equal(await b.tryAcquire(), true);
      assert.ok(b.fencingToken! > token);
      await b.release();
      assert.deepEqual(await clients[2]!.getChildren(path), [], 'waiters that gave up deleted their nodes');
    });

    it('waiters each watch only their predecessor, and are granted in arrival order', async () => {
      const path = unique('mutex');
      const holder = new Mutex(clients[0]!, path);
      await holder.acquire();
      // Record every path each waiter's client sets a watch on.
      const watched: string[][] = clients.map(() => []);
      const originals = clients.map((client) => client.exists.bind(client));
      clients.forEach((client, i) => {
        client.exists = (p, options) => {
          if (options?.watch) watched[i]!.push(p);
          return originals[i]!(p, options);
        };
      });
      try {
        const order: number[] = [];
        const waiters = clients.slice(1).map((client, i) => ({ i, mutex: new Mutex(client, path, { id: `waiter-${i}` }) }));
        const done: Promise<void>[] = [];
        for (const { i, mutex } of waiters) {
          done.push(mutex.acquire().then(async () => {
            order.push(i);
            await mutex.release();
          }));
          await waitFor(async () => (await holder.participants()).length === i + 2, 2_000, 'waiter queued');
        }
        const queue = await holder.participants();
        assert.deepEqual(queue.slice(1).map((p) => p.id), ['waiter-0', 'waiter-1', 'waiter-2', 'waiter-3']);
        await holder.release();
        await Promise.all(done);
        assert.deepEqual(order, [0, 1, 2, 3]);
        // Waiter i watched the node before its own, then (holding) its own node: nothing else.
        for (let i = 0; i < 4; i++) assert.deepEqual(watched[i + 1], [queue[i]!.path, queue[i + 1]!.path], `waiter ${i}`);
      } finally {
        clients.forEach((client, i) => (client.exists = originals[i]!));
      }
    });

    it('reports the lock lost when its node is deleted', async () => {
      const path = unique('mutex');
      const mutex = new Mutex(clients[0]!, path);
      await mutex.acquire();
      const node = mutex.nodePath!;
      const signal = mutex.signal!;
      await clients[1]!.delete(node);
      await waitFor(() => signal.aborted, 2_000, 'loss reported');
      assert.match(String(signal.reason), /deleted/);
      assert.ok(!mutex.isHeld);
      await mutex.release();
    });
  });

  describe('ReadWriteLock', () => {
    it('readers share, writers exclude everyone, and a queued writer holds back later readers', async () => {
      const path = unique('rw');
      const log: Section[] = [];
      await Promise.all(
        clients.map(async (client, w) => {
          const rw = new ReadWriteLock(client, path);
          for (let round = 0; round < 6; round++) {
            const writer = (w + round) % 3 === 0;
            const lock = writer ? rw.writeLock : rw.readLock;
            const token = await lock.acquire();
            log.push({ w, e: 'enter', t: token, k: writer ? 'w' : 'r' });
            await sleep(3);
            log.push({ w, e: 'exit', t: token, k: writer ? 'w' : 'r' });
            await lock.release();
          }
        }),
      );
      assertReadWrite(log);
      // Writer priority by arrival: a reader arriving after a queued writer waits for it.
      const holder = new ReadWriteLock(clients[0]!, path);
      await holder.readLock.acquire();
      const writer = new ReadWriteLock(clients[1]!, path);
      const writing = writer.writeLock.acquire();
      await waitFor(async () => (await holder.readLock.participants()).length === 2, 2_000);
      const lateReader = new ReadWriteLock(clients[2]!, path);
      assert.equal(await lateReader.readLock.tryAcquire(), false);
      await holder.readLock.release();
      await writing;
      assert.ok(await holder.readLock.tryAcquire().then((ok) => !ok), 'readers wait while the writer holds it');
      await writer.writeLock.release();
      assert.equal(await lateReader.readLock.tryAcquire(), true);
      await lateReader.readLock.release();
    });

    it('the write lock holder may take the read lock too', async () => {
      const rw = new ReadWriteLock(clients[0]!, unique('rw'));
      await rw.writeLock.acquire();
      assert.equal(await rw.readLock.tryAcquire(), true);
      await rw.readLock.release();
      await rw.writeLock.release();
    });
  });

  describe('Semaphore', () => {
    it('at most N holders, each lease its own token; tryAcquire when full gives null; leases granted in order', async () => {
      const path = unique('sem');
      const log: Section[] = [];
      await Promise.all(
        clients.map(async (client, w) => {
          const semaphore = new Semaphore(client, path, 2);
          for (let round = 0; round < 5; round++) {
            const lease = await semaphore.acquire();
            log.push({ w, e: 'enter', t: lease.token });
            await sleep(5);
            log.push({ w, e: 'exit', t: lease.token });
            await lease.release();
          }
        }),
      );
      assert.equal(assertBounded(log, 2), 2);
      const s = new Semaphore(clients[0]!, path, 2);
      const [a, b] = [await s.acquire(), await s.acquire()];
      assert.equal(await new Semaphore(clients[1]!, path, 2).tryAcquire(), null);
      assert.deepEqual((await s.holders()).map((h) => h.token), [a.token, b.token]);
      await a.release();
      const c = await new Semaphore(clients[1]!, path, 2).tryAcquire();
      assert.ok(c && c.token > b.token);
      await Promise.all([b.release(), c!.release()]);
    });
  });

  describe('LeaderElection and LeaderLatch', () => {
    it('one leader at a time; resigning passes leadership on with a higher token; observe follows it', async () => {
      const path = unique('election');
      const elections = clients.slice(0, 3).map((c, i) => new LeaderElection(c, path, { id: `candidate-${i}` }));
      const seen: (string | null)[] = [];
      const stop = await new LeaderElection(clients[4]!, path).observe((leader) => seen.push(leader?.id ?? null));
      const first = await elections[0]!.campaign();
      const others = elections.slice(1).map((e) => e.campaign());
      await waitFor(async () => (await elections[0]!.candidates()).length === 3, 2_000);
      assert.equal((await elections[2]!.leader())?.id, 'candidate-0');
      assert.ok(elections[0]!.isLeader && !elections[1]!.isLeader);
      await first.resign();
      assert.ok(first.signal.aborted === false, 'resigning is not a loss');
      const second = await others[0]!;
      assert.ok(second.token > first.token);
      await second.resign();
      const third = await others[1]!;
      assert.ok(third.token > second.token);
      await third.resign();
      await waitFor(() => seen.length > 1 && seen.at(-1) === null, 2_000, 'observer saw the end');
      await stop();
      // The observer sees the current leader eventually (a short term may pass unseen), in order.
      const terms = [null, 'candidate-0', 'candidate-1', 'candidate-2', null];
      let k = 0;
      for (const id of seen) {
        k = terms.indexOf(id, k);
        assert.ok(k >= 0, `observed ${JSON.stringify(seen)}`);
      }
      assert.ok(seen.includes('candidate-0'));
    });

    it('leadership is lost when the connection drops (suspended), and a new campaign gets a new token', async () => {
      const client = await connect({ sessionTimeoutMs: 4_000 });
      const election = new LeaderElection(client, unique('election'));
      const leadership = await election.campaign();
      client.reconnect();
      await waitFor(() => leadership.signal.aborted, 2_000, 'loss on disconnect');
      assert.match(String(leadership.signal.reason), /suspended/);
      const again = await election.campaign();
      assert.ok(again.token > leadership.token);
      await client.close();
      await waitFor(() => again.signal.aborted, 2_000, 'loss on close');
    });

    it('LeaderLatch: exactly one latch leads; closing it hands leadership over', async () => {
      const path = unique('latch');
      const latches = clients.slice(0, 3).map((c) => new LeaderLatch(c, path));
      latches.forEach((l) => l.start());
      await Promise.race(latches.map((l) => l.await()));
      await sleep(100);
      assert.equal(latches.filter((l) => l.hasLeadership).length, 1);
      const leader = latches.find((l) => l.hasLeadership)!;
      const token = leader.fencingToken!;
      await leader.close();
      const rest = latches.filter((l) => l !== leader);
      await Promise.race(rest.map((l) => l.await()));
      const next = rest.find((l) => l.hasLeadership)!;
      assert.ok(next.fencingToken! > token);
      await Promise.all(rest.map((l) => l.close()));
    });
  });

  describe('barriers', () => {
    it('Barrier: waiters block until it is removed', async () => {
      const barrier = new Barrier(clients[0]!, unique('barrier'));
      await barrier.set();
      let passed = 0;
      const waiting = clients.slice(1).map((c) => new Barrier(c, barrier.path).wait().then(() => passed++));
      await sleep(100);
      assert.equal(passed, 0);
      await barrier.remove();
      await Promise.all(waiting);
      assert.equal(passed, 4);
      await new Barrier(clients[1]!, unique('barrier')).wait({ timeoutMs: 1_000 });
    });

    it('DoubleBarrier: nobody gets past enter before all have entered, nor past leave before all have left', async () => {
      const path = unique('double');
      const events: string[] = [];
      await Promise.all(
        clients.map(async (client, i) => {
          await sleep(i * 20);
          const barrier = new DoubleBarrier(client, path, 5);
          events.push('enter');
          await barrier.enter();
          events.push('entered');
          await sleep(100 + (4 - i) * 20);
          events.push('leave');
          await barrier.leave();
          events.push('left');
        }),
      );
      assert.deepEqual(events.slice(0, 5), Array(5).fill('enter'));
      assert.deepEqual(events.slice(5, 10), Array(5).fill('entered'));
      assert.ok(events.lastIndexOf('leave') < events.indexOf('left'));
      assert.equal(await clients[0]!.exists(`${path}/ready`), null, 'the last one out took the ready flag down');
      await assert.rejects(new DoubleBarrier(clients[0]!, unique('double'), 2).enter({ timeoutMs: 200 }), (e: { code?: string }) => e.code === 'TIMEOUT');
    });
  });

  describe('queues', () => {
    it('DistributedQueue: producers and consumers concurrently, each item taken exactly once; one consumer sees FIFO order', async () => {
      const path = unique('queue');
      const items = 60;
      const taken: string[] = [];
      const consumers = clients.slice(2).map(async (client) => {
        const queue = new DistributedQueue(client, path);
        while (taken.length < items) {
          try {
            taken.push((await queue.take({ timeoutMs: 500 })).toString());
          } catch (error) {
            if ((error as { code?: string }).code !== 'TIMEOUT') throw error;
          }
        }
      });
      await Promise.all(
        clients.slice(0, 2).map(async (client, p) => {
          const queue = new DistributedQueue(client, path);
          for (let i = 0; i < items / 2; i++) await queue.put(`p${p}-${i}`);
        }),
      );
      await Promise.all(consumers);
      assert.equal(taken.length, items);
      assert.equal(new Set(taken).size, items, 'no item twice');
      const q = new DistributedQueue(clients[0]!, path);
      assert.equal(await q.size(), 0);
      assert.equal(await q.poll(), null);
      for (const x of ['a', 'b', 'c']) await q.put(x);
      assert.equal((await q.peek())?.toString(), 'a');
      assert.deepEqual([await q.take(), await q.take(), await q.take()].map(String), ['a', 'b', 'c']);
    });

    it('DistributedQueue: a put whose outcome was unknown, and whose item was taken before it looked, adds nothing twice', async () => {
      const path = unique('queue-unknown');
      const producer = clients[0]!;
      const consumer = new DistributedQueue(clients[1]!, path);
      await producer.mkdirp(path);
      // The create is applied, then a consumer takes the item, then the producer hears
      // "outcome unknown" (as when the connection drops before the reply arrives).
      const create = producer.createWithStat.bind(producer);
      let taken: string | undefined;
      producer.createWithStat = (async (...args: Parameters<typeof create>) => {
        producer.createWithStat = create; // once
        await create(...args);
        taken = (await consumer.take({ timeoutMs: 5_000 })).toString();
        throw new UnavailableError('connection lost: outcome unknown');
      }) as typeof create;
      try {
        await new DistributedQueue(producer, path).put('once');
      } finally {
        producer.createWithStat = create;
      }
      assert.equal(taken, 'once');
      assert.equal(await consumer.poll(), null, 'the item was not put again');
    });

    it('DistributedPriorityQueue: lowest priority value first, then in order put; take waits for an item', async () => {
      const path = unique('pqueue');
      const queue = new DistributedPriorityQueue(clients[0]!, path);
      const waiting = new DistributedPriorityQueue(clients[1]!, path).take();
      await sleep(50);
      await queue.put('first', 5);
      assert.equal((await waiting).toString(), 'first');
      await queue.put('low-1', 10);
      await queue.put('high', -3);
      await queue.put('low-2', 10);
      await queue.put('mid', 0);
      const order = [];
      for (let i = 0; i < 4; i++) order.push((await queue.take()).toString());
      assert.deepEqual(order, ['high', 'mid', 'low-1', 'low-2']);
    });
  });

  describe('DistributedCounter', () => {
    it('concurrent increments from 5 clients: every result distinct, final value exact; compareAndSet', async () => {
      const path = unique('counter');
      const results = await Promise.all(
        clients.map(async (client) => {
          const counter = new DistributedCounter(client, path);
          const afters: number[] = [];
          for (let i = 0; i < 10; i++) afters.push((await counter.increment()).after);
          return afters;
        }),
      );
      const all = results.flat().sort((a, b) => a - b);
      assert.deepEqual(all, Array.from({ length: 50 }, (_, i) => i + 1));
      const counter = new DistributedCounter(clients[0]!, path);
      assert.equal(await counter.get(), 50);
      assert.equal(await counter.compareAndSet(49, 7), false);
      assert.equal(await counter.compareAndSet(50, 7), true);
      assert.deepEqual(await counter.add(-10), { before: 7, after: -3 });
      assert.equal(await new DistributedCounter(clients[1]!, unique('counter')).get(), 0);
    });
  });

  describe('group membership', () => {
    it('members join and leave (also by closing their session); watchers see every membership', async () => {
      const path = unique('group');
      const views: string[][] = [];
      const stop = await new Group(clients[0]!, path).watch((members) => views.push([...members.keys()].sort()));
      const a = new GroupMember(clients[1]!, path, 'a', 'addr-a');
      await a.join();
      const owner = await connect();
      await new GroupMember(owner, path, 'b').join();
      await assert.rejects(new GroupMember(clients[2]!, path, 'b').join(), (e: { code?: string }) => e.code === 'NODE_EXISTS');
      await waitFor(() => views.at(-1)?.join() === 'a,b', 2_000, 'both seen');
      assert.equal((await new Group(clients[3]!, path).members()).get('a')?.toString(), 'addr-a');
      await owner.close();
      await waitFor(() => views.at(-1)?.join() === 'a', 2_000, 'b gone with its session');
      await a.leave();
      await waitFor(() => views.at(-1)?.length === 0, 2_000, 'a left');
      await stop();
    });
  });

  describe('caches', () => {
    it('TreeCache follows a subtree through creates, updates and deletes by other clients', async () => {
      const root = unique('tree');
      await clients[0]!.create(root, 'r');
      await clients[0]!.create(`${root}/old`, 'o');
      const cache = new TreeCache(clients[4]!, root);
      const events: CacheEvent[] = [];
      cache.onEvent((e) => events.push(e));
      await cache.start();
      assert.equal(cache.get(`${root}/old`)?.data.toString(), 'o');
      await Promise.all(
        clients.slice(0, 3).map(async (client, w) => {
          for (let i = 0; i < 10; i++) {
            const p = `${root}/w${w}-${i}`;
            await client.create(p, 'x');
            await client.create(`${p}/leaf`, 'y');
            await client.set(p, `v${i}`);
            if (i % 3 === 0) {
              await client.delete(`${p}/leaf`);
              await client.delete(p);
            }
          }
        }),
      );
      await clients[0]!.delete(`${root}/old`);
      await clients[0]!.sync();
      const expected = await snapshot(clients[0]!, root);
      await waitFor(() => JSON.stringify(cacheContents(cache)) === JSON.stringify(expected), 3_000, 'cache matches the tree');
      assert.deepEqual(cache.children(root).length, 3 * 6);
      assert.ok(events.some((e) => e.type === 'removed' && e.node.path === `${root}/old`));
      await cache.close();
    });

    it('NodeCache: data changes, deletion and re-creation', async () => {
      const path = unique('node');
      const cache = new NodeCache(clients[1]!, path);
      const seen: (string | undefined)[] = [];
      cache.onChange((node) => seen.push(node?.data.toString()));
      await cache.start();
      assert.equal(cache.current, undefined);
      await clients[0]!.create(path, 'a');
      await waitFor(() => cache.current?.data.toString() === 'a', 2_000);
      await clients[0]!.set(path, 'b');
      await waitFor(() => cache.current?.data.toString() === 'b', 2_000);
      await clients[0]!.create(`${path}/child`);
      await clients[0]!.delete(`${path}/child`);
      await clients[0]!.delete(path);
      await waitFor(() => cache.current === undefined, 2_000);
      await clients[0]!.create(path, 'c');
      await waitFor(() => cache.current?.data.toString() === 'c', 2_000);
      assert.deepEqual(seen, ['a', 'b', undefined, 'c']);
      await cache.close();
    });
  });

  describe('leases and admin', () => {
    it('grant, keepAlive past the TTL, timeToLive with keys, list, revoke', async () => {
      const client = clients[0]!;
      const { id, ttlMs } = await client.leases.grant(400);
      assert.equal(ttlMs, 400);
      const path = unique('leased');
      await client.create(path, '', { kind: 'EPHEMERAL', leaseId: id });
      const keeper = client.leases.keepAlive(id);
      await sleep(1_000);
      assert.ok(await client.exists(path), 'kept alive past its TTL');
      assert.ok(keeper.lastRenewed > 0 && keeper.ttlMs === 400);
      const ttl = await client.leases.timeToLive(id, { keys: true });
      assert.deepEqual(ttl.keys, [path]);
      assert.ok((await client.leases.list()).some((l) => l.id === id && !l.session));
      await client.leases.revoke(id);
      await waitFor(() => keeper.signal.aborted, 2_000, 'keepAlive reports the lease gone');
      assert.equal(await client.exists(path), null);
      assert.equal((await client.leases.timeToLive(id)).remainingMs, -1);
    });

    it('status and members of a single member', async () => {
      const status = await clients[0]!.cluster.status();
      assert.equal(status.role, 'LEADER');
      assert.equal(status.memberId, 1);
      const members = await clients[0]!.cluster.members();
      assert.equal(members.members.length, 1);
      assert.equal(members.clusterId, status.clusterId);
    });
  });
});

/** path -> data of every node under `root` (excluding it), read directly. */
async function snapshot(client: Conclave, root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string) => {
    for (const child of await client.getChildren(path)) {
      const p = `${path}/${child}`;
      out[p] = (await client.get(p)).data.toString();
      await walk(p);
    }
  };
  await walk(root);
  return Object.fromEntries(Object.entries(out).sort());
}

function cacheContents(cache: TreeCache): Record<string, string> {
  return Object.fromEntries(
    cache
      .entries()
      .filter((n) => n.path !== cache.root)
      .map((n) => [n.path, n.data.toString()] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}
