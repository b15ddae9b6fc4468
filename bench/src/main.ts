#!/usr/bin/env node
/**
 * npm run bench [-- --short] [--systems conclave,zookeeper] [--only prefixes] [--no-profile]; --help for all
 *
 * Starts 3-member clusters of Conclave, ZooKeeper and etcd one after the other on this machine,
 * runs the same workloads against each, profiles Conclave's members, and writes
 * bench/results/<timestamp>.json, bench/results/latest.json and docs/benchmarks.md (+ SVG charts).
 * BENCH_SHORT=1 is the same as --short: a few minutes, for CI.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SystemName } from './drivers/index.js';
import { ConclaveCluster } from './clusters/conclave.js';
import { EtcdCluster } from './clusters/etcd.js';
import { ZooKeeperCluster } from './clusters/zookeeper.js';
import { killAllSync } from './clusters/proc.js';
import type { Cluster } from './clusters/types.js';
import { makeConfig } from './config.js';
import { anchorVersions, ensureAnchors, loadAverage, machine } from './machine.js';
import { profileConclave } from './profile-run.js';
import { missingResults, printTable, writeReport, type BenchResults, type SystemResults } from './report.js';
import { throughputKey, Workloads, type WorkloadResult } from './workloads.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SYSTEMS: readonly SystemName[] = ['conclave', 'zookeeper', 'etcd'];
const program = new Command('npm run bench --')
  .description(
    'Starts 3-member clusters of Conclave, ZooKeeper and etcd one after the other on this machine (installing the ' +
      'anchors from Debian packages if needed), runs the same workloads against each, profiles Conclave\'s members, and ' +
      'writes bench/results/<time>.json, bench/results/latest.json and docs/benchmarks.md with its charts. ' +
      'Exits 1 when a workload produced no result.',
  )
  .option('--short', 'a few minutes, fewer and shorter points, for CI (also BENCH_SHORT=1); writes latest-short.json only')
  .option('--systems <list>', `comma-separated systems to run, of ${SYSTEMS.join(',')}`, SYSTEMS.join(','))
  .option('--only <prefixes>', 'run only the workloads whose keys start with one of these (e.g. "latency,throughput w100"); writes <time>-only.json only')
  .option('--no-profile', 'skip the CPU profile of Conclave\'s members')
  .addHelpText('after', '\nExamples:\n  npm run bench\n  npm run bench -- --short\n  npm run bench -- --systems conclave --only populate,restart,catch-up');
program.parse();
const opts = program.opts<{ short?: boolean; systems: string; only?: string; profile: boolean }>();
const short = !!opts.short || process.env.BENCH_SHORT === '1';
const systems = opts.systems.split(',').filter(Boolean) as SystemName[];
for (const system of systems) if (!SYSTEMS.includes(system)) program.error(`unknown system "${system}": choose from ${SYSTEMS.join(', ')}`);
const only = opts.only?.split(',').filter(Boolean);
const profile = opts.profile && !only && systems.includes('conclave');
const config = makeConfig(short);
const started = new Date();
const log = (line: string) => process.stdout.write(`[${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);

const active = new Set<Cluster>();
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

async function benchSystem(system: SystemName): Promise<SystemResults> {
  const cluster = makeCluster(system);
  const out: SystemResults = { system, version: cluster.version, loadAverageBefore: loadAverage(), workloads: {}, startedAt: new Date().toISOString() };
  const w = await Workloads.create(cluster, config, log);
  const step = async (key: string, fn: () => Promise<WorkloadResult>) => {
    if (only && !only.some((prefix) => key.startsWith(prefix))) return;
    const t0 = Date.now();
    try {
      const r = await fn();
      out.workloads[key] = r;
      const lat = r.latency ? `  p50 ${r.latency.p50} p99 ${r.latency.p99} p999 ${r.latency.p999} ms` : '';
      log(`  ${system} ${key}: ${r.opsPerSec !== undefined ? `${r.opsPerSec} ops/s` : `${r.value} ${r.unit}`}${lat}${r.errors ? `  (${r.errors} errors: ${r.firstError ?? r.note})` : ''}  [${((Date.now() - t0) / 1000).toFixed(0)} s]`);
    } catch (error) {
      out.workloads[key] = { title: key, error: (error as Error).message };
      log(`  ${system} ${key}: FAILED ${(error as Error).message}`);
    }
  };
  log(`${system} ${cluster.version}: starting 3 members (load average ${out.loadAverageBefore.join(' ')})`);
  active.add(cluster);
  try {
    await cluster.start();
    await w.setup();
    log(`  ${system}: warm-up ${config.warmupMs / 1000} s`);
    await w.warmup();
    for (const writeFraction of [1, 0.9, 0]) for (const p of config.sweep) await step(throughputKey(writeFraction, p), () => w.throughput(writeFraction, p));
    await step('latency write', () => w.lightLatency(1));
    await step('latency read', () => w.lightLatency(0));
    await step('ephemeral churn', () => w.ephemeralChurn());
    await step('session churn', () => w.sessionChurn());
    await step('watch fan-out', () => w.watchFanOut());
    await step('100KB write', () => w.bigValues(1));
    await step('100KB read', () => w.bigValues(0));
    let memory: WorkloadResult | undefined;
    await step('populate', async () => {
      const r = await w.scaleMemory();
      memory = r.memory;
      return r.populate;
    });
    if (memory) await step('memory per znode', async () => memory!);
    await step('restart', () => w.restartRecovery());
    await step('failover', () => w.failover());
    await step('catch-up', () => w.catchUp());
  } catch (error) {
    out.error = (error as Error).message;
    log(`  ${system}: FAILED ${(error as Error).stack ?? error}`);
  } finally {
    await cluster.stop();
    active.delete(cluster);
  }
  out.loadAverageAfter = loadAverage();
  return out;
}

async function main(): Promise<void> {
  const extra = [short ? '--short' : '', opts.systems !== SYSTEMS.join(',') ? `--systems ${opts.systems}` : '', only ? `--only ${only.join(',')}` : ''].filter(Boolean);
  const command = `npm run bench${extra.length ? ` -- ${extra.join(' ')}` : ''}`;
  log(`Conclave benchmark (${short ? 'short' : 'full'}): ${systems.join(', ')}`);
  ensureAnchors(log, !short);
  const results: BenchResults = {
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
  for (const system of systems) {
    results.systems[system] = await benchSystem(system);
    if (system === 'conclave') results.versions.conclave = results.systems[system]!.version;
  }
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
