/**
 * One nemesis run: a real cluster, every workload recording its history, the nemesis injecting
 * faults for a while; then heal, final reads, and every check:
 *
 * - linearizability of the register, set, counter, queue and bank histories (Porcupine);
 * - the workloads' own invariants (no acknowledged write lost, unique ids, fencing, ephemerals...);
 * - no client ever saw a zxid go backwards (response zxids, on every session);
 * - watches against the committed changes replayed from the logs;
 * - every member's tree digest equal (and equal to the state replayed from its log); the members'
 *   logs agree entry by entry up to the commit index;
 * - liveness after healing: a write commits within a generous bound; no member died on its own.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Conclave, UnavailableError } from '@conclave/client';
import { checkHistories, writeHistory, type Verdict } from './checker.js';
import { NemesisCluster } from './cluster.js';
import { firstDifference, memberDigest, stateMachineDigest, type TreeDigest } from './digest.js';
import { Nemesis, type FaultKind, type FaultRecord } from './nemesis.js';
import { Random } from './random.js';
import { committedLog } from './archive.js';
import { now } from './history.js';
import { logMismatches, replayCommitted, replayMember, type CommittedHistory, type ReplayedMember } from './replay.js';
import { resolveUnknowns, type Resolution } from './resolve.js';
import { RunContext, sleep, type Finding, type Workload } from './workload.js';
import { BankWorkload, INITIAL_BALANCE } from './workloads/bank.js';
import { CounterWorkload } from './workloads/counter.js';
import { EphemeralWorkload } from './workloads/ephemeral.js';
import { IdsWorkload } from './workloads/ids.js';
import { LockWorkload } from './workloads/lock.js';
import { QueueWorkload } from './workloads/queue.js';
import { RegisterWorkload } from './workloads/register.js';
import { SetWorkload } from './workloads/set.js';
import { WatchWorkload } from './workloads/watches.js';

export interface NemesisRunOptions {
  members: number;
  /** how long faults are injected */
  seconds: number;
  seed: number;
  faults?: readonly FaultKind[];
  holdMs?: [number, number];
  gapMs?: [number, number];
  /** server settings (snapshot cadence, ...) */
  settings?: Record<string, string | number | boolean>;
  /** Porcupine's time budget per history */
  checkerTimeoutSeconds?: number;
  /** keep the cluster dir (logs, data, histories) even when everything passed */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface NemesisReport {
  seed: number;
  members: number;
  seconds: number;
  /** wall time of the whole run, ms */
  durationMs: number;
  faults: FaultRecord[];
  faultCounts: Record<string, number>;
  nemesisLog: string[];
  operations: { total: number; checkedByPorcupine: number; unknown: number; resolution: Resolution; byWorkload: Record<string, Record<string, number>> };
  verdicts: Verdict[];
  findings: Finding[];
  zxid: { responses: number; sessions: number; reconnects: number; regressions: number };
  recoveryMs: number;
  dir: string;
  ok: boolean;
}

export async function runNemesis(options: NemesisRunOptions): Promise<NemesisReport> {
  const started = Date.now();
  const log = (line: string) => options.log?.(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}`);
  const random = new Random(options.seed);
  const cluster = await NemesisCluster.start({
    members: options.members,
    // Snapshots are taken, but the log is kept whole, so that the replay covers the whole run (watch
    // reference, unknown outcomes). Pass snapshotCatchUpEntries to compact (and install snapshots).
    settings: { snapshotCount: 10_000, snapshotCatchUpEntries: 1_000_000_000, ...options.settings },
  });
  const dir = cluster.dir;
  const historyDir = path.join(dir, 'histories');
  mkdirSync(historyDir, { recursive: true });
  log(`cluster of ${options.members} in ${dir}`);
  const findings: Finding[] = [];
  let ok = false;
  try {
    const workloadRandom = random.fork();
    const nemesisRandom = random.fork();
    const bank = new BankWorkload(5, 2, workloadRandom.fork());
    const watches = new WatchWorkload(2, workloadRandom.fork());
    const workloads: Workload[] = [
      new RegisterWorkload(4, 4, workloadRandom.fork()),
      new SetWorkload(3, 2, workloadRandom.fork()),
      new CounterWorkload(2, 3, workloadRandom.fork()),
      new QueueWorkload(3, workloadRandom.fork()),
      new IdsWorkload(2, workloadRandom.fork()),
      bank,
      new EphemeralWorkload(2, workloadRandom.fork()),
      new LockWorkload(3, workloadRandom.fork()),
      watches,
    ];

    const admin = await Conclave.connect({ endpoints: cluster.endpoints(), requestTimeoutMs: 30_000 });
    await admin.create('/nem').catch(() => undefined);
    for (const w of workloads) await w.setup(admin);
    await admin.close();

    const ctx = new RunContext(() => cluster.endpoints(), workloadRandom.fork());
    const running = workloads.map((w) => w.run(ctx).catch((error: Error) => log(`workload ${w.name} crashed: ${error.stack}`)));
    const nemesis = new Nemesis(cluster, nemesisRandom, { faults: options.faults, holdMs: options.holdMs, gapMs: options.gapMs });
    nemesis.start();
    await sleep(options.seconds * 1000);
    await nemesis.stop();
    log(`nemesis done: ${nemesis.faults.length} faults`);
    ctx.stop();
    const stopped = await Promise.race([Promise.all(running).then(() => true), sleep(120_000).then(() => false)]);
    findings.push({ workload: 'run', check: 'workers stop within 2 minutes of the end', ok: stopped, detail: stopped ? 'yes' : 'workers still busy' });

    // ---------------------------------------------------------------- heal
    const healStarted = Date.now();
    await cluster.healAll(120_000);
    const client = await Conclave.connect({ endpoints: cluster.endpoints(), requestTimeoutMs: 30_000 });
    const afterHeal = Date.now() + 60_000;
    const healed = await retryLostConnection('the heal write', afterHeal, log, () => client.set('/nem', `healed ${Date.now()}`));
    // Acknowledged after everything before it in the log: bounds when any earlier write took effect.
    const healAck = [healed.mzxid, now()] as const;
    const recoveryMs = Date.now() - healStarted;
    findings.push({ workload: 'run', check: 'after healing, a write commits within 30 s', ok: recoveryMs < 30_000, detail: `${recoveryMs} ms` });
    log(`healed; a write committed ${recoveryMs} ms after healing began`);

    for (const w of workloads) await retryLostConnection(`the final reads of ${w.name}`, afterHeal, log, () => w.finish(client));
    await client.close();
    await ctx.closeAll();
    for (const w of workloads) for (const h of w.checked()) h.history.close();

    // ---------------------------------------------------------------- the checks
    log('checking the workloads\' invariants');
    for (const w of workloads) findings.push(...w.check());

    const regressions = ctx.probes.flatMap((p) => p.regressions);
    findings.push({
      workload: 'run',
      check: 'no client saw a zxid go backwards',
      ok: regressions.length === 0,
      detail: regressions.length === 0
        ? `${ctx.probes.reduce((n, p) => n + p.responses, 0)} responses on ${ctx.probes.length} sessions`
        : regressions.slice(0, 5).map((r) => `${r.label}: ${r.at} zxid ${r.zxid} (member ${r.member}) after ${r.previous} (member ${r.previousMember})`).join('; '),
    });

    log('reading every member\'s tree');
    const { commitIndex, digests } = await agreedDigests(cluster, log);
    const distinct = new Set([...digests.values()].map((d) => d.digest));
    const [firstId, first] = [...digests][0]!;
    findings.push({
      workload: 'run',
      check: 'every member\'s tree digest is equal after healing',
      ok: distinct.size === 1,
      detail: distinct.size === 1
        ? `${first.nodes} nodes, sha256 ${first.digest.slice(0, 16)} on members ${[...digests.keys()].join(',')} at index ${commitIndex}`
        : [...digests].filter(([, d]) => d.digest !== first.digest).map(([id, d]) => `member ${id} vs ${firstId}: ${firstDifference(d, first)}`).join('; '),
    });

    const fatal = cluster.current.filter((id) => /"level":60/.test(readFileSafe(cluster.cluster.member(id).logFile)));
    findings.push({ workload: 'run', check: 'no current member died on its own (no fatal log line)', ok: fatal.length === 0, detail: fatal.length === 0 ? 'none' : fatal.map((id) => `member ${id}: ${cluster.logTail(id, 5)}`).join('\n') });

    log('replaying the logs');
    await cluster.cluster.stop({ keepData: true });
    const replayed: ReplayedMember[] = [];
    for (const id of cluster.current) replayed.push(await replayMember(id, cluster.cluster.member(id).dataDir, commitIndex));
    // The whole committed log, from every segment every member (removed ones too) ever wrote.
    cluster.archive.stop();
    const whole = committedLog(cluster.archive, cluster.current, commitIndex);
    const mismatches = [...logMismatches(replayed), ...whole.conflicts.map((c) => `archived logs differ at ${c}`)];
    findings.push({
      workload: 'run',
      check: 'members\' logs agree entry by entry up to the commit index',
      ok: mismatches.length === 0,
      detail: mismatches.length === 0
        ? `${replayed.length} current logs; the archived segments of ${cluster.archive.ids.length} members ${whole.complete ? `hold the whole committed log 1..${commitIndex}` : `miss index ${whole.firstMissing}`}`
        : mismatches.join('; '),
    });
    const replayProblems: string[] = [];
    for (const r of replayed) {
      const member = digests.get(r.id);
      if (r.lastIndex !== commitIndex) {
        replayProblems.push(`member ${r.id}: its log replays to ${r.lastIndex}, not ${commitIndex}`);
        continue;
      }
      const d = stateMachineDigest(r.fsm);
      if (member && d.digest !== member.digest) replayProblems.push(`member ${r.id}: tree differs from its own log: ${firstDifference(d, member)}`);
    }
    findings.push({ workload: 'run', check: 'each member\'s tree equals the state replayed from its own log', ok: replayProblems.length === 0, detail: replayProblems.length === 0 ? 'yes' : replayProblems.join('; ') });

    // The reference for watches and unknown outcomes: the whole committed log when the archive holds
    // it, else the member whose log reaches back furthest.
    let reference: CommittedHistory = [...replayed].sort((a, b) => a.coveredFrom - b.coveredFrom)[0]!;
    if (whole.complete) reference = replayCommitted(whole.entries);
    else log(`the archive misses committed index ${whole.firstMissing}: checking against member logs from ${reference.coveredFrom}`);
    log(`checking watches against ${reference.changes.length} committed changes`);
    findings.push(...watches.checkAgainst(reference.changes, reference.coveredFrom));

    const checked = workloads.flatMap((w) => w.checked());
    const resolution = resolveUnknowns(checked, reference.txns, reference.coveredFrom, [healAck]);
    log(`unknown outcomes resolved from the log: ${JSON.stringify(resolution)}`);
    for (const w of workloads) {
      const settled = w.resolveFromObservations?.() ?? 0;
      if (settled > 0) log(`${w.name}: ${settled} unknown outcomes settled from the final state`);
    }

    const files: string[] = [];
    for (const w of workloads) {
      for (const { model, history } of w.checked()) {
        const file = path.join(historyDir, `${history.workload}.json`);
        writeHistory(file, model, history, model === 'bank' ? { accounts: 5, balance: INITIAL_BALANCE } : {});
        files.push(file);
      }
    }
    writeHistory(path.join(historyDir, 'pairs.json'), 'pairs', bank.pairs);
    log('checking linearizability');
    const verdicts = await checkHistories(files, { timeoutSeconds: options.checkerTimeoutSeconds ?? 300 });
    for (const v of verdicts) {
      findings.push({
        workload: v.model,
        check: 'linearizable (Porcupine)',
        ok: v.result === 'Ok' && !v.error,
        detail: `${v.result}: ${v.operations} operations (${v.unknown} unknown), ${v.partitions} partitions, ${v.millis} ms${v.visualization ? `; visualisation: ${v.visualization}` : ''}${v.error ? `; error: ${v.error}` : ''}`,
      });
    }

    const byWorkload: Record<string, Record<string, number>> = {};
    for (const w of workloads) byWorkload[w.name] = w.summary();
    const total = checked.reduce((n, h) => n + h.history.ops.length, 0);
    ok = findings.every((f) => f.ok);
    const report: NemesisReport = {
      seed: options.seed,
      members: options.members,
      seconds: options.seconds,
      durationMs: Date.now() - started,
      faults: nemesis.faults,
      faultCounts: nemesis.summary(),
      nemesisLog: nemesis.log,
      operations: { total, checkedByPorcupine: verdicts.reduce((n, v) => n + v.operations, 0), unknown: resolution.unknown, resolution, byWorkload },
      verdicts,
      findings,
      zxid: {
        responses: ctx.probes.reduce((n, p) => n + p.responses, 0),
        sessions: ctx.probes.length,
        reconnects: ctx.probes.reduce((n, p) => n + p.reconnects, 0),
        regressions: regressions.length,
      },
      recoveryMs,
      dir,
      ok,
    };
    writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 2));
    return report;
  } finally {
    if (ok && !options.keep) {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    } else {
      await cluster.stop({ keepData: true });
    }
  }
}

/** Waits until every current member holds still at one applied index, and reads each one's tree. */
async function agreedDigests(cluster: NemesisCluster, log: (line: string) => void): Promise<{ commitIndex: number; digests: Map<number, TreeDigest> }> {
  for (let attempt = 0; ; attempt++) {
    const { commitIndex } = await cluster.waitConverged(60_000);
    const digests = new Map<number, TreeDigest>();
    for (const id of cluster.current) digests.set(id, await memberDigest(cluster.endpoints([id])));
    const after = await Promise.all(cluster.current.map((id) => cluster.status(id)));
    if (after.every((s) => s && s.appliedIndex === commitIndex && s.commitIndex === commitIndex)) return { commitIndex, digests };
    if (attempt >= 20) throw new Error('the members never held still long enough to compare their trees');
    log(`state moved while reading the trees (a session expiring?), again`);
    await sleep(1_000);
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A readable summary of a report. */
export function formatReport(report: NemesisReport): string {
  const lines: string[] = [];
  lines.push(`nemesis seed ${report.seed}: ${report.members} members, ${report.seconds} s of faults, ${(report.durationMs / 1000).toFixed(0)} s in all — ${report.ok ? 'PASSED' : 'FAILED'}`);
  lines.push(`faults injected: ${report.faults.length} (${Object.entries(report.faultCounts).map(([k, n]) => `${k} ${n}`).join(', ')})`);
  const r = report.operations.resolution;
  lines.push(`operations: ${report.operations.total} in checked histories, ${report.operations.checkedByPorcupine} checked by Porcupine; ${r.unknown} had an unknown outcome: from the log ${r.applied} applied, ${r.absent} never in it, ${r.failedAtApply} failed at apply, ${r.unknown - r.applied - r.absent - r.failedAtApply} left unknown`);
  for (const [name, counts] of Object.entries(report.operations.byWorkload)) lines.push(`  ${name}: ${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  lines.push(`zxids: ${report.zxid.responses} responses on ${report.zxid.sessions} sessions, ${report.zxid.reconnects} reconnects, ${report.zxid.regressions} regressions`);
  lines.push(`a write committed ${report.recoveryMs} ms after healing began`);
  for (const f of report.findings) lines.push(`  ${f.ok ? 'ok  ' : 'FAIL'} [${f.workload}] ${f.check}: ${f.detail}`);
  if (!report.ok) lines.push(`kept for inspection: ${report.dir} (nemesis log in report.json)`);
  return lines.join('\n');
}

/**
 * Runs an idempotent step of the heal phase again when the member under the client stops answering
 * (the client moves to another member): what the checks judge is the data, and how long recovery
 * took is measured by the heal write's time. Each retry is logged with its reason.
 */
async function retryLostConnection<T>(what: string, deadline: number, log: (line: string) => void, step: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof UnavailableError) || Date.now() > deadline) throw error;
      log(`${what} failed (${(error as Error).message}); retrying`);
      await sleep(500);
    }
  }
}
