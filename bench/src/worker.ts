/**
 * A load-generator process. The orchestrator forks a few of these (see pool.ts), sends each a job,
 * and they drive their share of the sessions: connect, report ready, run on "go", report results.
 */
import { loadDriver, type BenchSession, type SystemName } from './drivers/index.js';
import { Histogram, wallMs, type HistogramJSON } from './stats.js';

export type LoadOp = 'mixed' | 'ephemeral' | 'session';

interface JobBase {
  system: SystemName;
  /** the endpoints of each session this worker opens */
  sessions: string[][];
}

export interface LoadJob extends JobBase {
  kind: 'load';
  op: LoadOp;
  inFlight: number;
  /** for 'mixed': the share of writes, 0..1 */
  writeFraction: number;
  keyPrefix: string;
  keyCount: number;
  valueSize: number;
  warmupMs: number;
  durationMs: number;
}

export interface PopulateJob extends JobBase {
  kind: 'populate';
  inFlight: number;
  keyPrefix: string;
  from: number;
  to: number;
  batch: number;
  valueSize: number;
  /** keys are `${keyPrefix}${i / fanout}/n${i}` when set (parents made beforehand), else keyName() */
  fanout?: number;
}

export interface WatchJob extends JobBase {
  kind: 'watchers';
  key: string;
}

export type Job = LoadJob | PopulateJob | WatchJob;

export interface LoadResult {
  ops: number;
  errors: number;
  firstError?: string;
  histogram: HistogramJSON;
  elapsedMs: number;
}

export type ToWorker = { type: 'job'; job: Job } | { type: 'go' } | { type: 'arm' } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; result: LoadResult }
  | { type: 'armed' }
  | { type: 'fired'; count: number; lastMs: number }
  | { type: 'error'; message: string };

export const keyName = (prefix: string, i: number) => `${prefix}${String(i).padStart(7, '0')}`;

const send = (message: FromWorker) => process.send!(message);

async function connectAll(job: JobBase): Promise<BenchSession[]> {
  const driver = await loadDriver(job.system);
  const sessions: BenchSession[] = [];
  for (let i = 0; i < job.sessions.length; i += 50) {
    sessions.push(...(await Promise.all(job.sessions.slice(i, i + 50).map((endpoints) => driver.connect(endpoints)))));
  }
  return sessions;
}

const nextMessage = (type: ToWorker['type']): Promise<void> =>
  new Promise((resolve) => {
    const listener = (message: ToWorker) => {
      if (message.type !== type) return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
  });

async function runLoad(job: LoadJob, sessions: BenchSession[]): Promise<LoadResult> {
  const keys = Array.from({ length: job.keyCount }, (_, i) => keyName(job.keyPrefix, i));
  const value = Buffer.alloc(job.valueSize, 'v');
  const histogram = new Histogram();
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const measureFrom = start + job.warmupMs;
  const end = measureFrom + job.durationMs;
  const one = (session: BenchSession): Promise<void> => {
    switch (job.op) {
      case 'mixed': {
        const key = keys[Math.floor(Math.random() * keys.length)]!;
        return Math.random() < job.writeFraction ? session.put(key, value) : session.get(key);
      }
      case 'ephemeral':
        return session.ephemeralCycle(job.keyPrefix, value);
      case 'session':
        return session.sessionCycle();
    }
  };
  const loop = async (session: BenchSession) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await one(session);
        const t1 = performance.now();
        if (t0 >= measureFrom && t1 <= end) {
          ops++;
          histogram.record((t1 - t0) * 1000);
        }
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const loops: Promise<void>[] = [];
  for (const session of sessions) for (let k = 0; k < job.inFlight; k++) loops.push(loop(session));
  await Promise.all(loops);
  return { ops, errors, firstError, histogram: histogram.toJSON(), elapsedMs: job.durationMs };
}

async function runPopulate(job: PopulateJob, sessions: BenchSession[]): Promise<LoadResult> {
  const value = Buffer.alloc(job.valueSize, 'v');
  const histogram = new Histogram();
  let next = job.from;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const loop = async (session: BenchSession) => {
    while (next < job.to) {
      const from = next;
      const to = Math.min(job.to, from + job.batch);
      next = to;
      const keys: string[] = [];
      for (let i = from; i < to; i++) keys.push(job.fanout ? `${job.keyPrefix}${Math.floor(i / job.fanout)}/n${i}` : keyName(job.keyPrefix, i));
      const t0 = performance.now();
      // A batch that timed out may still have been applied: retry it, and count it as created when
      // the retry finds it there. Failures are counted (and reported), the population goes on.
      for (let attempt = 0; ; attempt++) {
        try {
          await session.createMany(keys, value);
          break;
        } catch (error) {
          errors++;
          firstError ??= (error as Error).message;
          if (/exists/i.test((error as Error).message) && attempt > 0) break;
          if (attempt >= 5) throw error;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      histogram.record((performance.now() - t0) * 1000);
      ops += keys.length;
    }
  };
  const loops: Promise<void>[] = [];
  for (const session of sessions) for (let k = 0; k < job.inFlight; k++) loops.push(loop(session));
  await Promise.all(loops);
  return { ops, errors, firstError, histogram: histogram.toJSON(), elapsedMs: performance.now() - start };
}

async function runWatchers(job: WatchJob, sessions: BenchSession[], stopped: Promise<void>): Promise<void> {
  const stop = stopped.then(() => 'stop' as const);
  for (;;) {
    const message = await Promise.race([nextMessage('arm').then(() => 'arm' as const), stop]);
    if (message === 'stop') return;
    let fired = 0;
    let lastMs = 0;
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const onFire = () => {
      lastMs = Math.max(lastMs, wallMs());
      if (++fired === sessions.length) done();
    };
    for (let i = 0; i < sessions.length; i += 100) await Promise.all(sessions.slice(i, i + 100).map((s) => s.watch(job.key, onFire)));
    send({ type: 'armed' });
    await Promise.race([all, new Promise((r) => setTimeout(r, 30_000))]);
    send({ type: 'fired', count: fired, lastMs });
  }
}

async function main(): Promise<void> {
  const job = await new Promise<Job>((resolve) => process.once('message', (m: ToWorker) => m.type === 'job' && resolve(m.job)));
  const stopped = nextMessage('stop');
  const sessions = await connectAll(job);
  send({ type: 'ready' });
  if (job.kind === 'watchers') {
    await runWatchers(job, sessions, stopped);
  } else {
    await nextMessage('go');
    send({ type: 'result', result: job.kind === 'load' ? await runLoad(job, sessions) : await runPopulate(job, sessions) });
    await stopped;
  }
  await Promise.all(sessions.map((s) => Promise.race([s.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000))])));
  process.exit(0);
}

main().catch((error: Error) => {
  send({ type: 'error', message: error.stack ?? error.message });
  setTimeout(() => process.exit(1), 100);
});
