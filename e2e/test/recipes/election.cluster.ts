/**
 * Leader election from separate processes against a real 3-member cluster. Each leader writes to
 * a fenced resource (refusing tokens lower than one it accepted) with its term's token.
 * - Killing the member under the leader: the leader is told at once (leadership lost), the next
 *   one is elected with a higher token, and terms never overlap in the log.
 * - LeaderLatch (campaigning again after each loss) keeps one leader at a time through kills.
 * - Pausing the leader's process past its session timeout (a long GC pause): another leader takes
 *   over, and the paused one's writes with its old token are refused by the resource.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestCluster } from '../../harness/cluster.js';
import { assertExclusive, readLog, waitFor, type Section } from '../../harness/checks.js';
import { killDuring } from '../../harness/chaos.js';
import { allDone, killWorkers, startFencedResource, startWorker } from '../../harness/workers.js';

type Term = Section & { m?: number; lost?: boolean };

describe('recipes under failures: leader election (separate processes, real 3-member cluster)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let dir: string;
  let resource: Awaited<ReturnType<typeof startFencedResource>>;

  beforeEach(async () => {
    cluster = await TestCluster.start({ members: 3 });
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-election-'));
    resource = await startFencedResource();
  });
  afterEach(async () => {
    killWorkers();
    await resource.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const terms = (log: string): Term[] => {
    try {
      return readLog(log) as Term[];
    } catch {
      return [];
    }
  };
  /** The term in progress: an enter without its exit yet. */
  const current = (log: string) => {
    const entries = terms(log);
    return entries.find((e) => e.e === 'enter' && !entries.some((x) => x.e === 'exit' && x.t === e.t));
  };

  it('the leader\'s member killed: leadership lost at once, next leader with a higher token, no overlap, everyone leads', async () => {
    const log = path.join(dir, 'election.log');
    const workers = Array.from({ length: 5 }, (_, id) =>
      startWorker({ role: 'election', endpoints: cluster.endpoints(), path: '/elections/e', log, id, rounds: 4, holdMs: 80, resource: resource.url }),
    );
    await waitFor(() => terms(log).filter((e) => e.e === 'enter').length >= 3 && current(log) !== undefined, 30_000, 'a third term');
    const term = current(log)!;
    await cluster.kill(term.m!);
    await waitFor(() => terms(log).some((e) => e.e === 'exit' && e.t === term.t), 10_000, 'the leader told');
    assert.equal(terms(log).find((e) => e.e === 'exit' && e.t === term.t)!.lost, true, 'the term ended as lost');
    await cluster.restart(term.m!);
    await waitFor(() => terms(log).filter((e) => e.e === 'enter').length >= 12, 60_000, 'twelve terms');
    const leader = await cluster.leader();
    await cluster.kill(leader);
    await waitFor(() => terms(log).filter((e) => e.e === 'enter').length >= 16, 60_000, 'sixteen terms');
    await cluster.restart(leader);
    const results = await allDone(workers);
    const entries = terms(log);
    assert.equal(assertExclusive(entries), 20, 'terms never overlap; tokens increase');
    for (const r of results) assert.equal(r.terms, 4, 'every candidate led its 4 terms');
    // Only a leader that had been told it lost leadership ever had a write refused.
    const lost = new Set(entries.filter((e) => e.e === 'exit' && e.lost).map((e) => e.t));
    for (const w of resource.writes.filter((x) => !x.accepted)) assert.ok(lost.has(w.token), `write with token ${w.token} refused, but that leader was never told`);
  });

  it('LeaderLatch: 4 processes x 3 terms, the leader and a follower killed; one leader at a time, everyone leads', async () => {
    const log = path.join(dir, 'latch.log');
    const workers = Array.from({ length: 4 }, (_, id) =>
      startWorker({ role: 'latch', endpoints: cluster.endpoints(), path: '/elections/latch', log, id, rounds: 3, holdMs: 150 }),
    );
    await killDuring(cluster, () => terms(log).filter((e) => e.e === 'exit').length, 12);
    await allDone(workers);
    assert.equal(assertExclusive(terms(log)), 12);
  });

  it('a leader paused past its session timeout is deposed, and its writes with the old token are refused', async () => {
    const log = path.join(dir, 'paused.log');
    const workers = Array.from({ length: 3 }, (_, id) =>
      startWorker({ role: 'election', endpoints: cluster.endpoints(), path: '/elections/p', log, id, rounds: 3, holdMs: 300, resource: resource.url, sessionTimeoutMs: 4_000 }),
    );
    // Pause the leader right after its first write of a term: four writes remain to be made.
    await waitFor(() => {
      const term = current(log);
      return term !== undefined && resource.writes.filter((w) => w.token === term.t).length === 1;
    }, 30_000, 'a leader writing');
    const term = current(log)!;
    const paused = workers[term.w as number]!;
    paused.process.kill('SIGSTOP');
    await waitFor(() => resource.writes.some((w) => w.accepted && w.token > term.t), 30_000, 'a new leader writing');
    paused.process.kill('SIGCONT');
    await waitFor(() => resource.writes.some((w) => !w.accepted && w.token === term.t), 10_000, 'the old leader fenced off');
    const results = await allDone(workers);
    const pausedResult = results[term.w as number]!;
    assert.ok((pausedResult.fenced as number) >= 1, 'the paused leader saw its write refused');
    assert.equal(pausedResult.expired, true, 'its session had expired');
    assert.equal(terms(log).find((e) => e.e === 'exit' && e.t === term.t)?.lost, true, 'and it was told of the loss');
    const accepted = resource.writes.filter((w) => w.accepted).map((w) => w.token);
    for (let i = 1; i < accepted.length; i++) assert.ok(accepted[i]! >= accepted[i - 1]!);
    console.log(`      worker ${term.w} paused in term ${term.t}; ${resource.writes.filter((w) => !w.accepted).length} stale writes refused`);
  });
});
