/** The results' shape, the console table, and docs/benchmarks.md with its SVG charts. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import type { Machine } from './machine.js';
import type { ProfileRun } from './profile-run.js';
import { barPanels, fmt, groupedBars } from './svg.js';
import { mixName, throughputKey, type WorkloadResult } from './workloads.js';

export interface SystemResults {
  system: string;
  version: string;
  startedAt: string;
  loadAverageBefore: number[];
  loadAverageAfter?: number[];
  /** CPU its idle cluster took while the run began (% of one core, 3 members): the others run beside it */
  idleCpuPct?: number;
  workloads: Record<string, WorkloadResult>;
  error?: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt?: string;
  mode: 'short' | 'full';
  command: string;
  machine: Machine;
  loadAverageBefore: number[];
  loadAverageAfter?: number[];
  versions: { conclave: string; zookeeper: string; etcd: string };
  config: BenchConfig;
  systems: Record<string, SystemResults>;
  profiles?: ProfileRun[];
  profileError?: string;
}

const SYSTEMS = ['conclave', 'zookeeper', 'etcd'];
const NAMES: Record<string, string> = { conclave: 'Conclave', zookeeper: 'ZooKeeper', etcd: 'etcd' };

/** throughput rows compare ops/s (higher is better) and p99; value rows compare the value (lower is better) */
export type RowKind = 'ops' | 'value';

interface Row {
  key: string;
  label: string;
  kind: RowKind;
}

/** The median round by the step's main number (of the middle two, the worse one: never the luckier round); failed rounds do not count. */
export function medianRound(samples: WorkloadResult[], kind: RowKind): WorkloadResult {
  const main = (r: WorkloadResult) => (kind === 'ops' ? r.opsPerSec : r.value);
  const ok = samples.filter((r) => !r.error && main(r) !== undefined);
  if (ok.length === 0) return samples.at(-1)!;
  // worst first: fewest ops/s, or the largest value (time, bytes)
  const sorted = [...ok].sort((a, b) => (kind === 'ops' ? main(a)! - main(b)! : main(b)! - main(a)!));
  const chosen = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return samples.length > 1 ? { ...chosen, rounds: samples.map((r) => (r.error ? null : (main(r) ?? null))) } : chosen;
}


export function rows(config: BenchConfig): Row[] {
  const out: Row[] = [];
  for (const w of [1, 0.9, 0]) for (const p of config.sweep) out.push({ key: throughputKey(w, p), label: `${mixName(w)}, ${p.sessions}x${p.inFlight}`, kind: 'ops' });
  out.push(
    { key: 'latency write', label: 'write latency, 1x1', kind: 'ops' },
    { key: 'latency read', label: 'read latency, 1x1', kind: 'ops' },
    { key: 'ephemeral churn', label: 'ephemeral+sequential create/delete (pairs/s), 8x4', kind: 'ops' },
    { key: 'session churn', label: 'session open/close (sessions/s), 4x2', kind: 'ops' },
    { key: '100KB write', label: '100 KB writes, 4x2', kind: 'ops' },
    { key: '100KB read', label: '100 KB reads, 4x2', kind: 'ops' },
    { key: 'watch fan-out', label: `1 write -> ${config.watchers} watchers, last notified (ms)`, kind: 'value' },
    { key: 'populate', label: `populate ${config.treeSize.toLocaleString('en-US')} znodes, batches of 100 (s)`, kind: 'value' },
    { key: 'memory per znode', label: 'memory per znode (B, heap; RSS in brackets)', kind: 'value' },
    { key: 'restart', label: 'follower restart with the tree -> serving (ms)', kind: 'value' },
    { key: 'catch-up', label: 'empty member catches up with the tree (ms)', kind: 'value' },
    { key: 'failover', label: 'kill -9 leader -> first write (ms, median)', kind: 'value' },
  );
  return out;
}

const get = (r: BenchResults, system: string, key: string): WorkloadResult | undefined => r.systems[system]?.workloads[key];

function cell(w: WorkloadResult | undefined, row: Row, br: string): string {
  if (!w) return '-';
  if (w.error) return `error: ${w.error.slice(0, 80)}`;
  if (row.kind === 'ops') {
    const l = w.latency!;
    return `**${fmt(w.opsPerSec!)}** ops/s${br}${fmt(l.p50)} / ${fmt(l.p99)} / ${fmt(l.p999)} ms${w.cpuUsPerOp ? `${br}CPU ${fmt(w.cpuUsPerOp)} µs/op` : ''}${roundRange(w, br)}${w.errors ? `${br}(${w.errors} errors)` : ''}`;
  }
  if (row.key === 'memory per znode') {
    const p = w.params as { heapPerZnode?: number; rssPerZnode?: number };
    return `**${p.heapPerZnode ?? '-'}** (${p.rssPerZnode ?? '-'})`;
  }
  if (row.key === 'populate') return `**${fmt(w.value!)}** s (${fmt(w.opsPerSec!)}/s)${w.errors ? `${br}${w.errors} batches failed, retried: ${(w.firstError ?? '').slice(0, 60)}` : ''}`;
  const samples = w.rounds && w.rounds.length > 1 ? roundRange(w, ' ') : w.samples && w.samples.length > 1 ? ` (${w.samples.map(fmt).join(', ')})` : '';
  return `**${w.value === undefined ? '-' : fmt(w.value)}**${samples}${w.errors ? ` (${w.note})` : ''}`;
}

/** the spread of the rounds behind a median-round cell: "(3 rounds: 14,203-15,120)", and how many failed */
function roundRange(w: WorkloadResult, br: string): string {
  if (!w.rounds || w.rounds.length < 2) return '';
  const ok = w.rounds.filter((v): v is number => v !== null);
  const failed = w.rounds.length - ok.length;
  return `${br}(${w.rounds.length} rounds: ${fmt(Math.min(...ok))}-${fmt(Math.max(...ok))}${failed ? `, ${failed} failed` : ''})`;
}

function ratio(c: WorkloadResult | undefined, a: WorkloadResult | undefined, row: Row): string {
  if (!c || !a || c.error || a.error) return '-';
  const r = (x: number | undefined, y: number | undefined) => (x !== undefined && y ? `${(x / y).toFixed(2)}x` : '-');
  if (row.kind === 'ops') return `${r(c.opsPerSec, a.opsPerSec)} ops/s${row.key.startsWith('latency') || row.key.startsWith('throughput') ? `, ${r(c.latency?.p99, a.latency?.p99)} p99` : ''}`;
  if (row.key === 'memory per znode') return r((c.params as { heapPerZnode?: number }).heapPerZnode, (a.params as { heapPerZnode?: number }).heapPerZnode);
  return r(c.value, a.value);
}

export function markdownTable(r: BenchResults): string {
  const present = SYSTEMS.filter((s) => r.systems[s]);
  const anchors = present.filter((s) => s !== 'conclave');
  const head = ['workload', ...present.map((s) => `${NAMES[s]} ${r.systems[s]!.version}`), ...(present.includes('conclave') ? anchors.map((a) => `Conclave ÷ ${NAMES[a]}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows(r.config)) {
    const cells = present.map((s) => cell(get(r, s, row.key), row, '<br>'));
    const ratios = present.includes('conclave') ? anchors.map((a) => ratio(get(r, 'conclave', row.key), get(r, a, row.key), row)) : [];
    lines.push(`| ${row.label} | ${[...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

export function printTable(r: BenchResults): void {
  const present = SYSTEMS.filter((s) => r.systems[s]);
  const anchors = present.filter((s) => s !== 'conclave');
  const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const out: string[] = [`\nResults (${r.mode}), load average before ${r.loadAverageBefore.join(' ')}, after ${r.loadAverageAfter?.join(' ')}; ops/s  p50/p99/p999 ms`];
  out.push(pad('workload', 52) + present.map((s) => pad(NAMES[s]!, 34)).join('') + (present.includes('conclave') ? anchors.map((a) => pad(`C÷${NAMES[a]}`, 26)).join('') : ''));
  for (const row of rows(r.config)) {
    const cells = present.map((s) => pad(cell(get(r, s, row.key), row, '  ').replace(/\*\*/g, '').replace(/CPU .*$/, ''), 34));
    const ratios = present.includes('conclave') ? anchors.map((a) => pad(ratio(get(r, 'conclave', row.key), get(r, a, row.key), row), 26)) : [];
    out.push(pad(row.label.slice(0, 50), 52) + cells.join('') + ratios.join(''));
  }
  process.stdout.write(out.join('\n') + '\n\n');
}

/** every expected workload of every system, with a number and no error */
export function missingResults(r: BenchResults, profile: boolean): string[] {
  const missing: string[] = [];
  for (const [system, s] of Object.entries(r.systems)) {
    if (s.error) missing.push(`${system}: ${s.error}`);
    for (const row of rows(r.config)) {
      const w = s.workloads[row.key];
      const ok = w && !w.error && (row.kind === 'ops' ? (w.opsPerSec ?? 0) > 0 : w.value !== undefined && Number.isFinite(w.value));
      if (!ok) missing.push(`${system} ${row.key}${w?.error ? `: ${w.error}` : ''}`);
    }
  }
  if (profile && !(r.profiles?.length === 2 && r.profiles.every((p) => p.members.length === 3))) missing.push(`profiles${r.profileError ? `: ${r.profileError}` : ' (not every member wrote one)'}`);
  return missing;
}

function charts(r: BenchResults): Record<string, string> {
  const present = SYSTEMS.filter((s) => r.systems[s]);
  const groups: string[] = [];
  const tput: (number | undefined)[][] = [];
  for (const w of [1, 0.9, 0])
    for (const p of r.config.sweep) {
      groups.push(`${mixName(w)} ${p.sessions}x${p.inFlight}`);
      tput.push(present.map((s) => get(r, s, throughputKey(w, p))?.opsPerSec));
    }
  const p99: (number | undefined)[][] = tput.map((_, i) => present.map((s) => get(r, s, throughputKey([1, 0.9, 0][Math.floor(i / r.config.sweep.length)]!, r.config.sweep[i % r.config.sweep.length]!))?.latency?.p99));
  const panel = (title: string, unit: string, pick: (w: WorkloadResult) => number | undefined, key: string) => ({
    title,
    unit,
    values: present.map((s) => {
      const w = get(r, s, key);
      return { label: s, value: w && !w.error ? pick(w) : undefined };
    }),
  });
  const out: Record<string, string> = {
    'throughput.svg': groupedBars('Throughput by mix and concurrency (sessions x in flight), 100 B values', 'ops/s', groups, present, tput),
    'throughput-p99.svg': groupedBars('p99 latency under the throughput workloads (lower is better)', 'ms', groups, present, p99),
    'latency.svg': barPanels('Latency at light load (1 session, 1 in flight), ms, lower is better', [
      panel('write p50', 'ms', (w) => w.latency?.p50, 'latency write'),
      panel('write p99', 'ms', (w) => w.latency?.p99, 'latency write'),
      panel('write p999', 'ms', (w) => w.latency?.p999, 'latency write'),
      panel('read p50', 'ms', (w) => w.latency?.p50, 'latency read'),
      panel('read p99', 'ms', (w) => w.latency?.p99, 'latency read'),
      panel('read p999', 'ms', (w) => w.latency?.p999, 'latency read'),
    ]),
    'other.svg': barPanels('Other workloads', [
      panel('ephemeral create+delete (pairs/s) ↑', '/s', (w) => w.opsPerSec, 'ephemeral churn'),
      panel('session open+close (/s) ↑', '/s', (w) => w.opsPerSec, 'session churn'),
      panel('100 KB writes (ops/s) ↑', '/s', (w) => w.opsPerSec, '100KB write'),
      panel('100 KB reads (ops/s) ↑', '/s', (w) => w.opsPerSec, '100KB read'),
      panel(`watch fan-out to ${r.config.watchers} (ms) ↓`, 'ms', (w) => w.value, 'watch fan-out'),
      panel('heap per znode (B) ↓', 'B', (w) => (w.params as { heapPerZnode?: number }).heapPerZnode, 'memory per znode'),
      panel('follower restart (ms) ↓', 'ms', (w) => w.value, 'restart'),
      panel('empty member catch-up (ms) ↓', 'ms', (w) => w.value, 'catch-up'),
      panel('leader failover (ms) ↓', 'ms', (w) => w.value, 'failover'),
    ]),
  };
  if (r.profiles?.length) {
    out['profile.svg'] = barPanels(
      'Conclave leader: main-thread self time by area (% of busy time)',
      r.profiles.map((p) => {
        const leader = p.members.find((m) => m.role === 'leader') ?? p.members[0]!;
        return { title: `${p.workload} (${fmt(p.result.opsPerSec ?? 0)} ops/s)`, unit: '%', values: leader.summary.areas.slice(0, 10).map((a) => ({ label: a.area.replace(/ \(.*\)$/, ''), value: a.pct })) };
      }),
      2,
      170,
    );
  }
  return out;
}

function profileSection(r: BenchResults): string {
  if (!r.profiles?.length) return r.profileError ? `Profiling failed: ${r.profileError}\n` : 'No profile in this run.\n';
  const out: string[] = [];
  for (const p of r.profiles) {
    out.push(`### ${p.workload} (${r.config.headline.sessions} sessions x ${r.config.headline.inFlight} in flight, ${fmt(p.result.opsPerSec ?? 0)} ops/s under the profiler, p99 ${p.result.latency?.p99} ms)\n`);
    out.push('| member | CPU in window (all threads) | main thread busy | idle | WAL fsyncs | mean fsync | entries per fsync |', '|---|---|---|---|---|---|---|');
    for (const m of p.members) out.push(`| ${m.id} (${m.role}) | ${fmt(m.cpuMs)} ms | ${fmt(m.summary.busyMs)} ms | ${fmt(m.summary.idleMs)} ms | ${m.fsyncs ?? '-'} | ${m.fsyncMeanMs ?? '-'} ms | ${m.entriesPerFsync ?? '-'} |`);
    const leader = p.members.find((m) => m.role === 'leader') ?? p.members[0]!;
    const follower = p.members.find((m) => m.role === 'follower');
    out.push('', `Self time by area (% of the main thread's busy time):\n`, '| area | leader | follower |', '|---|---|---|');
    const areas = new Set([...leader.summary.areas.map((a) => a.area), ...(follower?.summary.areas.map((a) => a.area) ?? [])]);
    for (const area of areas) {
      const l = leader.summary.areas.find((a) => a.area === area);
      const f = follower?.summary.areas.find((a) => a.area === area);
      out.push(`| ${area} | ${l ? `${l.pct}% (${fmt(l.ms)} ms)` : '-'} | ${f ? `${f.pct}% (${fmt(f.ms)} ms)` : '-'} |`);
    }
    out.push('', `Top functions by self time on the leader:\n`, '| function | where | area | self | % busy |', '|---|---|---|---|---|');
    for (const f of leader.summary.functions.slice(0, 20)) out.push(`| \`${f.fn}\` | ${f.where} | ${f.area} | ${fmt(f.ms)} ms | ${f.pct}% |`);
    out.push('');
  }
  return out.join('\n');
}

function method(r: BenchResults): string {
  if (r.config.rounds === undefined) return 'one system after the other.'; // results of runs before the rounds
  const rounds = r.config.rounds;
  const idle = Object.values(r.systems).filter((s) => s.idleCpuPct !== undefined);
  return (
    `the clusters of all systems run side by side and the load workloads go round robin, each point on one system after the other` +
    (rounds > 1 ? `, in ${rounds} rounds (the first system rotating each round); each cell is the median round and shows the range of all rounds. ` : '. ') +
    (idle.length ? `The idle clusters beside the measured one took ${idle.map((s) => `${NAMES[s.system]} ${s.idleCpuPct}%`).join(', ')} of one core. ` : '') +
    'The scale workloads (populate and after it) ran afterwards, one system at a time.'
  );
}

export function renderMarkdown(r: BenchResults, analysis: string): string {
  const loads = Object.values(r.systems).map((s) => `${NAMES[s.system]} ${s.loadAverageBefore.join(' ')} -> ${s.loadAverageAfter?.join(' ') ?? '?'}`);
  return `# Benchmarks: Conclave side by side with ZooKeeper and etcd

<!-- Generated by \`npm run bench\` (or \`npm run report -w bench\` from bench/results/latest.json); the
analysis comes from bench/analysis.md. Edit those, not this file. -->

Measured on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\` (${r.mode} mode), in one run: ${method(r)}

**Machine**: ${r.machine.nproc} cores (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, ${r.machine.kernel}, Node.js ${r.machine.node}, ${r.machine.java}.
Shared with other engineers' work: **load average (1/5/15 min) before the run ${r.loadAverageBefore.join(' / ')}**, after ${r.loadAverageAfter?.join(' / ') ?? '?'};
per system (1/5/15 before -> after): ${loads.join('; ')}. The load generator (${r.config.workers} worker processes of Node.js clients) shares the 2 cores with the 3 members.

Systems: Conclave ${r.versions.conclave} (this checkout, its defaults, fsync on), ZooKeeper ${r.versions.zookeeper} and etcd ${r.versions.etcd} from Debian's packages, configured as in
\`shared/design/performance.md\` (3 members on loopback, own data dirs, fsync on). Clients: @conclave/client, node-zookeeper-client, etcd3.
Each cell: **ops/s**, then p50 / p99 / p999 latency, then the CPU time of the 3 members per operation. How each workload works: [bench/README.md](../bench/README.md).

## Results

${markdownTable(r)}

Ratios are Conclave ÷ anchor: for ops/s above 1 is better, for p99, ms and bytes below 1 is better.

## Charts

![throughput](benchmarks/throughput.svg)

![p99 under load](benchmarks/throughput-p99.svg)

![latency at light load](benchmarks/latency.svg)

![other workloads](benchmarks/other.svg)

${r.profiles?.length ? '![profile](benchmarks/profile.svg)\n' : ''}
## Profile of Conclave's members

Each member ran under \`node --cpu-prof\` in a separate cluster for the write and the read workload at
${r.config.headline.sessions} x ${r.config.headline.inFlight}; only the samples in the measured window count. "Main thread busy" is what the profiler saw on the
JavaScript thread; fsync runs on libuv's thread pool and shows in the CPU and fsync columns, not in the areas.

${profileSection(r)}
## Analysis

${analysis.trim()}
`;
}

export function writeReport(r: BenchResults, root: string): void {
  const docs = path.join(root, 'docs');
  mkdirSync(path.join(docs, 'benchmarks'), { recursive: true });
  for (const [name, svg] of Object.entries(charts(r))) writeFileSync(path.join(docs, 'benchmarks', name), svg);
  const analysisFile = path.join(root, 'bench/analysis.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '(no analysis yet)';
  writeFileSync(path.join(docs, 'benchmarks.md'), renderMarkdown(r, analysis));
}
