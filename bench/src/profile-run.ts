/**
 * The profiling runs: a fresh Conclave cluster whose members run under `node --cpu-prof`, one for
 * the write workload and one for the read workload (the headline point), summarized per member
 * over the measured window only. Raw profiles stay in bench/results/profiles/ (not committed).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConclaveCluster } from './clusters/conclave.js';
import { cpuMs, metric } from './clusters/proc.js';
import type { BenchConfig } from './config.js';
import { readProfile, summarize, type ProfileSummary } from './profile.js';
import { Workloads, type WorkloadResult } from './workloads.js';

export interface MemberProfile {
  id: number;
  role: 'leader' | 'follower';
  /** CPU (user + system, all threads) in the window, ms */
  cpuMs: number;
  summary: ProfileSummary;
  /** WAL appends+fsyncs in the window, their mean duration, and log entries committed per fsync */
  fsyncs?: number;
  fsyncMeanMs?: number;
  entriesPerFsync?: number;
}

export interface ProfileRun {
  workload: string;
  result: WorkloadResult;
  members: MemberProfile[];
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

async function profileOne(config: BenchConfig, outDir: string, name: string, writeFraction: number, log: (l: string) => void): Promise<ProfileRun> {
  const profDir = path.join(outDir, name);
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  const cluster = new ConclaveCluster(mkdtempSync(path.join(os.tmpdir(), 'conclave-bench-prof-')), ['--cpu-prof', '--cpu-prof-dir', profDir]);
  try {
    await cluster.start();
    const w = await Workloads.create(cluster, { ...config, durationMs: config.profileMs }, log);
    await w.setup();
    await w.warmup();
    const leader = await cluster.leader();
    const ids = cluster.ids();
    const pids = new Map(ids.map((id) => [cluster.pid(id), id]));
    const snapshot = async () =>
      Promise.all(
        ids.map(async (id) => {
          const text = await cluster.metrics(id);
          return {
            cpu: cpuMs(cluster.pid(id)),
            fsyncs: metric(text, 'conclave_wal_fsync_duration_seconds_count') ?? NaN,
            fsyncSum: metric(text, 'conclave_wal_fsync_duration_seconds_sum') ?? NaN,
            committed: metric(text, 'conclave_proposals_committed_total') ?? NaN,
          };
        }),
      );
    const before = await snapshot();
    const fromUs = nowUs() + config.rampMs * 1000;
    const result = await w.throughput(writeFraction, config.headline);
    const toUs = nowUs();
    const after = await snapshot();
    log(`  profile ${name}: ${result.opsPerSec} ops/s, p99 ${result.latency?.p99} ms`);
    await cluster.stopKeepingData();
    const members: MemberProfile[] = [];
    for (const file of readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'))) {
      const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1]);
      const id = pids.get(pid);
      if (id === undefined) continue;
      const i = ids.indexOf(id);
      const fsyncs = after[i]!.fsyncs - before[i]!.fsyncs;
      members.push({
        id,
        role: id === leader ? 'leader' : 'follower',
        cpuMs: Math.round(after[i]!.cpu - before[i]!.cpu),
        summary: summarize(readProfile(path.join(profDir, file)), { fromUs, toUs }),
        fsyncs,
        fsyncMeanMs: fsyncs > 0 ? Math.round(((after[i]!.fsyncSum - before[i]!.fsyncSum) / fsyncs) * 1e6) / 1e3 : undefined,
        entriesPerFsync: fsyncs > 0 ? Math.round(((after[i]!.committed - before[i]!.committed) / fsyncs) * 10) / 10 : undefined,
      });
    }
    members.sort((a, b) => (a.role === b.role ? a.id - b.id : a.role === 'leader' ? -1 : 1));
    return { workload: name, result, members };
  } finally {
    await cluster.stop();
  }
}

export async function profileConclave(config: BenchConfig, outDir: string, log: (l: string) => void): Promise<ProfileRun[]> {
  return [await profileOne(config, outDir, 'writes', 1, log), await profileOne(config, outDir, 'reads', 0, log)];
}
