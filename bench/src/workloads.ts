/**
 * The workloads, run against one started cluster. Each returns a WorkloadResult; a workload that
 * fails records its error and the run goes on (main.ts reports the missing results at the end).
 */
import { loadDriver, type BenchSession, type Driver } from './drivers/index.js';
import type { Cluster } from './clusters/types.js';
import { cpuMs, sleep, waitFor } from './clusters/proc.js';
import type { BenchConfig, Point } from './config.js';
import { runJobs, split, startWatchers } from './pool.js';
import { Histogram, median, summarize, wallMs, type Latency } from './stats.js';
import { keyName, type LoadJob, type LoadOp } from './worker.js';

export interface WorkloadResult {
  /** what was measured, for the table */
  title: string;
  opsPerSec?: number;
  latency?: Latency;
  /** for single-number workloads (ms, bytes, ...) */
  value?: number;
  unit?: string;
  samples?: number[];
  /** the main number (ops/s or value) of every round, in run order (null: that round failed); the result is the median round */
  rounds?: (number | null)[];
  /** cluster CPU time (all members) per operation, microseconds */
  cpuUsPerOp?: number;
  errors?: number;
  firstError?: string;
  note?: string;
  params?: Record<string, unknown>;
  /** the workload could not run */
  error?: string;
}

export const KV = '/bench/kv/k';
const BIG = '/bench/big/k';
const CHURN = '/bench/churn';
const WATCHED = '/bench/watch/key';
const MARKER = '/bench/marker';
const TREE = '/bench/tree/d';
const TREE_FANOUT = 1_000;

export const mixName = (writeFraction: number) => (writeFraction === 1 ? 'writes 100%' : writeFraction === 0 ? 'reads 100%' : `writes ${Math.round(writeFraction * 100)}%`);
export const throughputKey = (writeFraction: number, p: Point) => `throughput w${Math.round(writeFraction * 100)} ${p.sessions}x${p.inFlight}`;

export class Workloads {
  private constructor(private readonly cluster: Cluster, private readonly config: BenchConfig, private readonly log: (line: string) => void, private readonly driver: Driver) {}

  static async create(cluster: Cluster, config: BenchConfig, log: (line: string) => void): Promise<Workloads> {
    return new Workloads(cluster, config, log, await loadDriver(cluster.system));
  }

  /** session i connects to member i mod 3, so that the load spreads over the members */
  private spread(sessions: number, ids = this.cluster.ids()): string[][] {
    return Array.from({ length: sessions }, (_, i) => [this.cluster.endpoint(ids[i % ids.length]!)]);
  }

  private connect(endpoints: string[] = this.cluster.ids().map((id) => this.cluster.endpoint(id))): Promise<BenchSession> {
    return this.driver.connect(endpoints);
  }

  private clusterCpuMs(): number {
    return this.cluster.ids().reduce((sum, id) => sum + cpuMs(this.cluster.pid(id)), 0);
  }

  /** runs a timed load over sessions spread on the members, in `workers` processes */
  async load(op: LoadOp, p: Point, extra: Partial<LoadJob> = {}, workers = this.config.workers): Promise<WorkloadResult> {
    const base: Omit<LoadJob, 'sessions'> = {
      kind: 'load',
      system: this.cluster.system,
      op,
      inFlight: p.inFlight,
      writeFraction: 1,
      keyPrefix: KV,
      keyCount: this.config.keys,
      valueSize: this.config.valueSize,
      warmupMs: this.config.rampMs,
      durationMs: this.config.durationMs,
      ...extra,
    };
    const cpuBefore = { at: performance.now(), ms: this.clusterCpuMs() };
    const results = await runJobs(split(this.spread(p.sessions), workers).map((sessions) => ({ ...base, sessions })));
    const cpuAfter = { at: performance.now(), ms: this.clusterCpuMs() };
    const histogram = new Histogram();
    for (const r of results) histogram.merge(r.histogram);
    const ops = results.reduce((s, r) => s + r.ops, 0);
    const errors = results.reduce((s, r) => s + r.errors, 0);
    const seconds = base.durationMs / 1000;
    // CPU over the whole job (ramp + window) divided by the ops it did at the window's rate
    const totalMs = cpuAfter.at - cpuBefore.at;
    const opsWhole = (ops / base.durationMs) * (base.warmupMs + base.durationMs);
    return {
      title: '',
      opsPerSec: Math.round(ops / seconds),
      latency: summarize(histogram),
      cpuUsPerOp: ops > 0 ? Math.round(((cpuAfter.ms - cpuBefore.ms) * 1000) / opsWhole) : undefined,
      errors,
      firstError: results.find((r) => r.firstError)?.firstError,
      params: { sessions: p.sessions, inFlight: p.inFlight, workers: Math.min(workers, p.sessions), durationMs: base.durationMs, wallMs: Math.round(totalMs) },
    };
  }

  /** creates the parents and the 1,000 keys (and the 100 KB ones) */
  async setup(): Promise<void> {
    const s = await this.connect();
    try {
      await s.ensureParents(['/bench/kv', '/bench/big', CHURN, '/bench/watch', '/bench/tree']);
      const value = Buffer.alloc(this.config.valueSize, 'v');
      for (let i = 0; i < this.config.keys; i += 100) await s.createMany(Array.from({ length: Math.min(100, this.config.keys - i) }, (_, j) => keyName(KV, i + j)), value);
      const big = Buffer.alloc(this.config.bigValueSize, 'b');
      for (let i = 0; i < this.config.bigKeys; i += 5) await s.createMany(Array.from({ length: 5 }, (_, j) => keyName(BIG, i + j)), big);
      await s.createMany([WATCHED, MARKER], Buffer.from('0'));
    } finally {
      await s.close();
    }
  }

  async warmup(): Promise<void> {
    await this.load('mixed', this.config.headline, { writeFraction: 0.5, warmupMs: 0, durationMs: this.config.warmupMs });
  }

  async throughput(writeFraction: number, p: Point): Promise<WorkloadResult> {
    const r = await this.load('mixed', p, { writeFraction });
    return { ...r, title: `${mixName(writeFraction)}, ${p.sessions} sessions x ${p.inFlight} in flight, ${this.config.valueSize} B` };
  }

  async lightLatency(writeFraction: number): Promise<WorkloadResult> {
    const r = await this.load('mixed', { sessions: 1, inFlight: 1 }, { writeFraction }, 1);
    return { ...r, title: `${writeFraction ? 'write' : 'read'} latency, 1 session x 1 in flight` };
  }

  async ephemeralChurn(): Promise<WorkloadResult> {
    const r = await this.load('ephemeral', { sessions: 8, inFlight: 4 }, { keyPrefix: CHURN });
    return { ...r, title: 'ephemeral sequential create + delete, 8 x 4 (pairs/s)' };
  }

  async sessionChurn(): Promise<WorkloadResult> {
    const r = await this.load('session', { sessions: 4, inFlight: 2 });
    return { ...r, title: 'session open + close, 4 x 2 (sessions/s)' };
  }

  async bigValues(writeFraction: number): Promise<WorkloadResult> {
    const r = await this.load('mixed', { sessions: 4, inFlight: 2 }, { writeFraction, keyPrefix: BIG, keyCount: this.config.bigKeys, valueSize: this.config.bigValueSize });
    return { ...r, title: `100 KB ${writeFraction ? 'writes' : 'reads'}, 4 x 2` };
  }

  /** 1 writer, N watchers (sessions) on one key: time from the write to the last notification */
  async watchFanOut(): Promise<WorkloadResult> {
    const n = this.config.watchers;
    const watchers = await startWatchers(split(this.spread(n), this.config.workers).map((sessions) => ({ kind: 'watchers' as const, system: this.cluster.system, sessions, key: WATCHED })));
    const writer = await this.connect([this.cluster.endpoint(await this.cluster.leader())]);
    const samples: number[] = [];
    let missed = 0;
    try {
      for (let round = -this.config.watchWarmupRounds; round < this.config.watchRounds; round++) {
        const { fired } = await watchers.arm();
        const t0 = wallMs();
        await writer.put(WATCHED, Buffer.from(String(round)));
        const results = await fired;
        if (round >= 0) {
          missed += n - results.reduce((s, r) => s + r.count, 0);
          samples.push(Math.round((Math.max(...results.map((r) => r.lastMs)) - t0) * 100) / 100);
        }
        await sleep(200);
      }
    } finally {
      await writer.close();
      await watchers.stop();
    }
    return { title: `1 write -> ${n} watchers notified (ms to the last)`, value: Math.round(median(samples) * 100) / 100, unit: 'ms', samples, errors: missed, note: missed ? `${missed} notifications missing` : undefined };
  }

  /** reads `key` on member `id` alone until it has `expected`; resolves at that moment (performance.now()) */
  private async readOnUntil(id: number, key: string, expected: Buffer, timeoutMs = 300_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let session: BenchSession | undefined;
    try {
      for (;;) {
        if (Date.now() > deadline) throw new Error(`member ${id} did not serve ${key} within ${timeoutMs} ms`);
        try {
          session ??= await this.driver.connect([this.cluster.endpoint(id)], { requestTimeoutMs: 2_000 });
          const value = await session.read(key);
          if (value && value.equals(expected)) return performance.now();
        } catch {
          await session?.close().catch(() => undefined);
          session = undefined;
        }
        await sleep(20);
      }
    } finally {
      await session?.close().catch(() => undefined);
    }
  }

  private async writeMarker(value: Buffer, exclude?: number): Promise<void> {
    const endpoints = this.cluster.ids().filter((id) => id !== exclude).map((id) => this.cluster.endpoint(id));
    await waitFor(
      'the marker write',
      async () => {
        const s = await this.driver.connect(endpoints, { requestTimeoutMs: 10_000 });
        try {
          await s.put(MARKER, value);
          return true;
        } finally {
          await s.close().catch(() => undefined);
        }
      },
      120_000,
      200,
    );
  }

  /** fills the tree with treeSize znodes of 100 B (plus 1 parent per 1,000) and measures the members' memory */
  async scaleMemory(): Promise<{ populate: WorkloadResult; memory: WorkloadResult }> {
    const count = this.config.treeSize;
    const parents = Math.ceil(count / TREE_FANOUT);
    // 1,000 small writes first: ZooKeeper keeps its last 500 proposals in memory (commitLogCount), which
    // would otherwise still be the 100 KB ones in the baseline and make the difference too small
    const flush = await this.connect();
    try {
      const small = Buffer.alloc(this.config.valueSize, 'v');
      for (let i = 0; i < 1_000; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => flush.put(keyName(KV, i + j), small)));
    } finally {
      await flush.close();
    }
    await sleep(1_000);
    const before = await Promise.all(this.cluster.ids().map((id) => this.cluster.memory(id)));
    const t0 = performance.now();
    const s = await this.connect();
    try {
      for (let i = 0; i < parents; i += 100) await s.createMany(Array.from({ length: Math.min(100, parents - i) }, (_, j) => `${TREE}${i + j}`), Buffer.alloc(0));
    } finally {
      await s.close();
    }
    const results = await runJobs(
      split(this.spread(8), this.config.workers).map((sessions, w, parts) => {
        const per = Math.ceil(count / parts.length);
        return { kind: 'populate' as const, system: this.cluster.system, sessions, inFlight: 2, keyPrefix: TREE, from: w * per, to: Math.min(count, (w + 1) * per), batch: 100, valueSize: this.config.valueSize, fanout: TREE_FANOUT };
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const created = results.reduce((s, r) => s + r.ops, 0) + parents;
    await this.writeMarker(Buffer.from(`populated-${created}`));
    await Promise.all(this.cluster.ids().map((id) => this.readOnUntil(id, MARKER, Buffer.from(`populated-${created}`))));
    await sleep(2_000);
    const after = await Promise.all(this.cluster.ids().map((id) => this.cluster.memory(id)));
    const perNode = (pick: (m: { rssBytes: number; heapBytes?: number }) => number | undefined) => {
      const deltas = after.map((a, i) => (pick(a) ?? NaN) - (pick(before[i]!) ?? NaN)).filter((d) => !Number.isNaN(d));
      return deltas.length ? Math.round(deltas.reduce((x, y) => x + y, 0) / deltas.length / created) : undefined;
    };
    const heap = perNode((m) => m.heapBytes);
    const rss = perNode((m) => m.rssBytes);
    return {
      populate: {
        title: `populate ${created} znodes (multi/txn of 100)`,
        opsPerSec: Math.round(created / seconds),
        value: Math.round(seconds * 10) / 10,
        unit: 's',
        errors: results.reduce((s, r) => s + r.errors, 0),
        firstError: results.find((r) => r.firstError)?.firstError,
        note: results.some((r) => r.errors) ? `${results.reduce((s, r) => s + r.errors, 0)} batches failed and were retried (first: ${results.find((r) => r.firstError)?.firstError})` : undefined,
      },
      memory: {
        title: `memory per znode with ${created} znodes (mean of members; heap: ${this.cluster.system === 'zookeeper' ? 'JVM after full GC' : this.cluster.system === 'etcd' ? 'Go heap alloc' : 'V8 heap used + external'})`,
        value: heap ?? rss,
        unit: 'B',
        params: { znodes: created, rssPerZnode: rss, heapPerZnode: heap, rssAfterMB: after.map((m) => Math.round(m.rssBytes / 2 ** 20)), heapAfterMB: after.map((m) => (m.heapBytes ? Math.round(m.heapBytes / 2 ** 20) : undefined)) },
      },
    };
  }

  private async follower(): Promise<number> {
    const leader = await this.cluster.leader();
    return this.cluster.ids().find((id) => id !== leader)!;
  }

  /** kill -9 of a follower holding the tree, restart: time from spawn to serving a read of the latest write */
  async restartRecovery(): Promise<WorkloadResult> {
    const id = await this.follower();
    const marker = Buffer.from(`restart-${Date.now()}`);
    await this.writeMarker(marker);
    await this.readOnUntil(id, MARKER, marker);
    await this.cluster.kill(id);
    const spawnedAt = await this.cluster.restart(id);
    const servedAt = await this.readOnUntil(id, MARKER, marker);
    await this.cluster.leader();
    return { title: 'follower restart with the tree: spawn -> serves reads (ms)', value: Math.round(servedAt - spawnedAt), unit: 'ms' };
  }

  /** an empty member catches up with the tree from the leader */
  async catchUp(): Promise<WorkloadResult> {
    const id = await this.follower();
    const marker = Buffer.from(`catchup-${Date.now()}`);
    const fresh = await this.cluster.replaceWithEmpty(id, () => this.writeMarker(marker, id));
    const servedAt = await this.readOnUntil(fresh.id, MARKER, marker, 600_000);
    return { title: 'empty member catches up with the tree: spawn -> serves the latest write (ms)', value: Math.round(servedAt - fresh.spawnedAt), unit: 'ms', note: `${fresh.how}; ${this.cluster.catchUpNote(fresh.id)}` };
  }

  /** kill -9 of the leader: time to the first successful write issued after the kill */
  async failover(): Promise<WorkloadResult> {
    const samples: number[] = [];
    for (let round = 0; round < this.config.failoverRounds; round++) {
      const leader = await this.cluster.leader();
      const others = this.cluster.ids().filter((id) => id !== leader);
      const writers = await Promise.all(others.map((id) => this.driver.connect([this.cluster.endpoint(id)], { requestTimeoutMs: 20_000 })));
      let firstOk = Infinity;
      let done!: () => void;
      const succeeded = new Promise<void>((resolve) => (done = resolve));
      let t0 = Infinity;
      let ticking = true;
      const value = Buffer.alloc(this.config.valueSize, 'f');
      const tick = async (w: BenchSession) => {
        while (ticking) {
          const issued = performance.now();
          void w.put(keyName(KV, 0), value).then(
            () => {
              if (issued >= t0 && performance.now() < firstOk) {
                firstOk = performance.now();
                done();
              }
            },
            () => undefined,
          );
          await sleep(10);
        }
      };
      const loops = writers.map(tick);
      await sleep(500);
      t0 = performance.now();
      await this.cluster.kill(leader);
      await Promise.race([succeeded, sleep(60_000)]);
      ticking = false;
      await Promise.all(loops);
      samples.push(Math.round(firstOk - t0));
      await Promise.all(writers.map((w) => Promise.race([w.close().catch(() => undefined), sleep(3_000)])));
      await this.cluster.restart(leader);
      const marker = Buffer.from(`failover-${round}-${Date.now()}`);
      await this.writeMarker(marker);
      await this.readOnUntil(leader, MARKER, marker);
      this.log(`    failover round ${round + 1}: ${samples.at(-1)} ms`);
    }
    const ok = samples.filter(Number.isFinite);
    return { title: 'kill -9 leader -> first write accepted (ms, median)', value: ok.length ? median(ok) : undefined, unit: 'ms', samples, error: ok.length ? undefined : 'no write succeeded within 60 s' };
  }
}
