#!/usr/bin/env node
/**
 * npm run bench [-- --short] [--systems conclave,zookeeper] [--only prefixes] [--no-profile]; --help for all
 *
 * Starts 3-member clusters of Conclave, ZooKeeper and etcd on this machine, runs the same workloads
 * against each (the load workloads in interleaved rounds), profiles Conclave's members, and writes
 * bench/results/<timestamp>.json, bench/results/latest.json and docs/benchmarks.md (+ SVG charts).
 * BENCH_SHORT=1 is the same as --short: a few minutes, for CI.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SystemName } from './drivers/index.js';
import { ConclaveCluster } from './clusters/conclave.js';
import { EtcdCluster } from './clusters/etcd.js';
import { ZooKeeperCluster } from './clusters/zookeeper.js';
import { cpuMs, killAllSync, sleep } from './clusters/proc.js';
import type { Cluster } from './clusters/types.js';
import { makeConfig } from './config.js';
import { anchorVersions, ensureAnchors, loadAverage, machine } from './machine.js';
import { profileConclave } from './profile-run.js';
import { medianRound, missingResults, printTable, writeReport, type BenchResults, type RowKind, type SystemResults } from './report.js';
import { throughputKey, Workloads, type WorkloadResult } from './workloads.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SYSTEMS: readonly SystemName[] = ['conclave', 'zookeeper', 'etcd'];
const program = new Command('npm run bench --')
  .description(
    'Starts 3-member clusters of Conclave, ZooKeeper and etcd on this machine (installing the anchors from Debian ' +
      'packages if needed), runs the same workloads against each (the load workloads in rounds, one system after the ' +
      'other for each point; the median round counts), profiles Conclave\'s members, and ' +
      'writes bench/results/<time>.json, bench/results/latest.json and docs/benchmarks.md with its charts. ' +
      'Exits 1 when a workload produced no result.',
  )
  .option('--short', 'a few minutes, fewer and shorter points, for CI (also BENCH_SHORT=1); writes latest-short.json only')
  .option('--systems <list>', `comma-separated systems to run, of ${SYSTEMS.join(',')}`, SYSTEMS.join(','))
  .option('--only <prefixes>', 'run only the workloads whose keys start with one of these (e.g. "latency,throughput w100"); writes <time>-only.json only')
  .option('--rounds <n>', 'rounds of the load workloads (default: 3; short: 1)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
    return n;
  })
  .option('--no-profile', 'skip the CPU profile of Conclave\'s members')
  .addHelpText('after', '\nExamples:\n  npm run bench\n  npm run bench -- --short\n  npm run bench -- --systems conclave --only populate,restart,catch-up');
program.parse();
const opts = program.opts<{ short?: boolean; systems: string; only?: string; rounds?: number; profile: boolean }>();
const short = !!opts.short || process.env.BENCH_SHORT === '1';
const systems = opts.systems.split(',').filter(Boolean) as SystemName[];
for (const system of systems) if (!SYSTEMS.includes(system)) program.error(`unknown system "${system}": choose from ${SYSTEMS.join(', ')}`);
const only = opts.only?.split(',').filter(Boolean);
const profile = opts.profile && !only && systems.includes('conclave');
const config = { ...makeConfig(short), ...(opts.rounds ? { rounds: opts.rounds } : {}) };
const started = new Date();
const log = (line: string) => process.stdout.write(`[${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);

const active = new Set<Cluster>();
let results: BenchResults;
// node-zookeeper-client can throw from its socket handler when a member restarts mid-response
// ("Unknown code: ..."): that session is lost, the workload's retry loop reconnects. Anything else is fatal.
process.on('uncaughtException', (error) => {
  if (error.stack?.includes('node-zookeeper-client')) {
    log(`  (node-zookeeper-client: ${error.message}; that session is dropped)`);
    return;
  }
  log(`fatal: ${error.stack}`);
  killAllSync();
  process.exit(1);
});
const cleanUp = () => killAllSync();
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping every member`);
    cleanUp();
    process.exit(130);
  });
}

function makeCluster(system: SystemName): Cluster {
  const dir = mkdtempSync(path.join(os.tmpdir(), `conclave-bench-${system}-`));
  switch (system) {
    case 'conclave':
      return new ConclaveCluster(dir);
    case 'zookeeper':
      return new ZooKeeperCluster(dir);
    case 'etcd':
      return new EtcdCluster(dir);
  }
}

/** One system under test: its cluster, its workloads and what it measured so far. */
interface Contender {
  system: SystemName;
  cluster: Cluster;
  w: Workloads;
  out: SystemResults;
}

const selected = (key: string) => !only || only.some((prefix) => key.startsWith(prefix));

type Step = { key: string; kind: RowKind; run: (w: Workloads) => Promise<WorkloadResult> };

/** The workloads that put load on a running cluster and leave it as it was: run in interleaved rounds. */
function loadSteps(): Step[] {
  const steps: Step[] = [];
  for (const writeFraction of [1, 0.9, 0]) for (const p of config.sweep) steps.push({ key: throughputKey(writeFraction, p), kind: 'ops', run: (w) => w.throughput(writeFraction, p) });
  steps.push(
    { key: 'latency write', kind: 'ops', run: (w) => w.lightLatency(1) },
    { key: 'latency read', kind: 'ops', run: (w) => w.lightLatency(0) },
    { key: 'ephemeral churn', kind: 'ops', run: (w) => w.ephemeralChurn() },
    { key: 'session churn', kind: 'ops', run: (w) => w.sessionChurn() },
    { key: 'watch fan-out', kind: 'value', run: (w) => w.watchFanOut() },
    { key: '100KB write', kind: 'ops', run: (w) => w.bigValues(1) },
    { key: '100KB read', kind: 'ops', run: (w) => w.bigValues(0) },
  );
  return steps.filter((step) => selected(step.key));
}

async function measure(c: Contender, key: string, fn: () => Promise<WorkloadResult>, round = ''): Promise<WorkloadResult> {
  const t0 = Date.now();
  try {
    const r = await fn();
    const lat = r.latency ? `  p50 ${r.latency.p50} p99 ${r.latency.p99} p999 ${r.latency.p999} ms` : '';
    log(`  ${c.system} ${key}${round}: ${r.opsPerSec !== undefined ? `${r.opsPerSec} ops/s` : `${r.value} ${r.unit}`}${lat}${r.errors ? `  (${r.errors} errors: ${r.firstError ?? r.note})` : ''}  [${((Date.now() - t0) / 1000).toFixed(0)} s]`);
    return r;
  } catch (error) {
    log(`  ${c.system} ${key}${round}: FAILED ${(error as Error).message}`);
    return { title: key, error: (error as Error).message };
  }
}

async function startContender(system: SystemName): Promise<Contender | undefined> {
  const cluster = makeCluster(system);
  const out: SystemResults = { system, version: cluster.version, loadAverageBefore: loadAverage(), workloads: {}, startedAt: new Date().toISOString() };
  results.systems[system] = out;
  log(`${system} ${cluster.version}: starting 3 members (load average ${out.loadAverageBefore.join(' ')})`);
  active.add(cluster);
  try {
    const w = await Workloads.create(cluster, config, log);
    await cluster.start();
    await w.setup();
    log(`  ${system}: warm-up ${config.warmupMs / 1000} s`);
    await w.warmup();
    return { system, cluster, w, out };
  } catch (error) {
    out.error = (error as Error).message;
    log(`  ${system}: FAILED ${(error as Error).stack ?? error}`);
    await stopContender({ cluster, out });
    return undefined;
  }
}

async function stopContender(c: Pick<Contender, 'cluster' | 'out'>): Promise<void> {
  await c.cluster.stop();
  active.delete(c.cluster);
  c.out.loadAverageAfter = loadAverage();
}

/** CPU share (% of one core) each idle cluster takes while the others are measured. */
async function idleCpu(contenders: Contender[]): Promise<void> {
  const cpu = (c: Contender) => c.cluster.ids().reduce((sum, id) => sum + cpuMs(c.cluster.pid(id)), 0);
  const before = contenders.map(cpu);
  const t0 = performance.now();
  await sleep(5000);
  const seconds = (performance.now() - t0) / 1000;
  contenders.forEach((c, i) => (c.out.idleCpuPct = Math.round(((cpu(c) - before[i]!) / 10 / seconds) * 10) / 10));
  log(`idle clusters' CPU (3 members, % of one core): ${contenders.map((c) => `${c.system} ${c.out.idleCpuPct}`).join(', ')}`);
}

/**
 * Every system's cluster runs from the start: the load workloads go round robin (each point on one
 * system after the other, the first system rotating each round), so that a change in the machine's
 * load during the run weighs on every system alike. Then, one system at a time, the workloads that
 * fill, restart or reshape a cluster, after which its cluster stops.
 */
async function benchAll(): Promise<void> {
  const contenders: Contender[] = [];
  for (const system of systems) {
    const c = await startContender(system);
    if (c) contenders.push(c);
  }
  if (contenders.length > 1) await idleCpu(contenders);
  const samples = new Map<string, WorkloadResult[]>();
  const steps = loadSteps();
  for (let round = 0; round < config.rounds; round++) {
    if (steps.length > 0 && config.rounds > 1) log(`round ${round + 1} of ${config.rounds}`);
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    for (const step of steps)
      for (const c of order) {
        const r = await measure(c, step.key, () => step.run(c.w), config.rounds > 1 ? ` (round ${round + 1})` : '');
        const id = `${c.system} ${step.key}`;
        samples.set(id, [...(samples.get(id) ?? []), r]);
      }
  }
  for (const c of contenders) for (const step of steps) c.out.workloads[step.key] = medianRound(samples.get(`${c.system} ${step.key}`)!, step.kind);
  for (const c of contenders) {
    const step = async (key: string, fn: () => Promise<WorkloadResult>) => {
      if (selected(key)) c.out.workloads[key] = await measure(c, key, fn);
    };
    try {
      let memory: WorkloadResult | undefined;
      await step('populate', async () => {
        const r = await c.w.scaleMemory();
        memory = r.memory;
        return r.populate;
      });
      if (memory) await step('memory per znode', async () => memory!);
      await step('restart', () => c.w.restartRecovery());
      await step('failover', () => c.w.failover());
      await step('catch-up', () => c.w.catchUp());
    } finally {
      await stopContender(c);
    }
  }
}

async function main(): Promise<void> {
  const extra = [short ? '--short' : '', opts.rounds ? `--rounds ${opts.rounds}` : '', opts.systems !== SYSTEMS.join(',') ? `--systems ${opts.systems}` : '', only ? `--only ${only.join(',')}` : ''].filter(Boolean);
  const command = `npm run bench${extra.length ? ` -- ${extra.join(' ')}` : ''}`;
  log(`Conclave benchmark (${short ? 'short' : 'full'}): ${systems.join(', ')}`);
  ensureAnchors(log, !short);
  results = {
    startedAt: started.toISOString(),
    mode: short ? 'short' : 'full',
    command,
    machine: machine(),
    loadAverageBefore: loadAverage(),
    versions: { ...anchorVersions(), conclave: '' },
    config,
    systems: {},
  };
  log(`machine: ${results.machine.nproc} cores, ${results.machine.cpuModel}, ${results.machine.memoryGiB} GiB; load average ${results.loadAverageBefore.join(' ')}`);
  await benchAll();
  results.versions.conclave = results.systems.conclave?.version ?? '';
  if (profile) {
    log('profiling Conclave members (node --cpu-prof) under the write and read workloads');
    try {
      results.profiles = await profileConclave(config, path.join(ROOT, 'bench/results/profiles'), log);
    } catch (error) {
      log(`profiling FAILED: ${(error as Error).stack}`);
      results.profileError = (error as Error).message;
    }
  }
  results.loadAverageAfter = loadAverage();
  results.finishedAt = new Date().toISOString();
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(results, null, 1) + '\n';
  writeFileSync(path.join(dir, `${stamp}${short ? '-short' : ''}${only ? '-only' : ''}.json`), json);
  if (only) {
    // A partial run: the latest results and the report stay those of the last whole run.
    printTable(results);
    log(`done: bench/results/${stamp}${short ? '-short' : ''}-only.json written`);
    process.exit(0);
  }
  writeFileSync(path.join(dir, short ? 'latest-short.json' : 'latest.json'), json);
  if (!short) writeReport(results, ROOT);
  printTable(results);
  const missing = missingResults(results, profile);
  if (missing.length) {
    log(`workloads without results:\n  ${missing.join('\n  ')}`);
    process.exit(1);
  }
  log(`done: every workload produced results; ${short ? 'bench/results/latest-short.json' : 'bench/results/latest.json and docs/benchmarks.md'} written`);
  process.exit(0);
}

main().catch((error: Error) => {
  log(`benchmark failed: ${error.stack}`);
  process.exit(1);
});
