/** The orchestrator's side of the load generator: forks worker processes and drives their jobs. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, Job, LoadResult, ToWorker, WatchJob } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * Node flags of the load generator's processes, for every system alike. With V8's defaults the
 * workers reading 100 KB values (any system's client: each response is a buffer outside the heap,
 * which V8 counts against a ~30 MB first old-generation limit) ran 20-25 Mark-Compacts a second
 * each, which showed as the systems' tail: Conclave's 100 KB reads 8.6-9.9k reads/s with a p99 of
 * 10.7-11.4 ms, against 16.3-17.1k and 2.4 ms with this flag (three runs each, bench/analysis.md).
 * The members run with the same flag (server/src/cli/node-flags.ts).
 */
const WORKER_NODE_FLAGS = ['--initial-old-space-size=256'];

class Worker {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (message: FromWorker) => void>();
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  readonly exited: Promise<void>;

  constructor(job: Job) {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: WORKER_NODE_FLAGS });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.failed = new Promise<never>((_, reject) => {
      this.child.on('message', (message: FromWorker) => {
        if (message.type === 'error') {
          this.failure = new Error(`worker: ${message.message}`);
          reject(this.failure);
          return;
        }
        const waiter = this.waiting.get(message.type);
        this.waiting.delete(message.type);
        waiter?.(message);
      });
      this.child.once('exit', (code) => {
        this.failure ??= new Error(`worker exited (${code})`);
        reject(this.failure);
      });
    });
    this.failed.catch(() => undefined);
    this.send({ type: 'job', job });
  }

  send(message: ToWorker): void {
    if (this.child.connected) this.child.send(message);
  }

  /** the next message of a type; rejects if the worker fails first */
  next<T extends FromWorker['type']>(type: T, timeoutMs = 120_000): Promise<Extract<FromWorker, { type: T }>> {
    return Promise.race([
      new Promise<Extract<FromWorker, { type: T }>>((resolve) => this.waiting.set(type, resolve as (m: FromWorker) => void)),
      this.failed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`worker: no ${type} within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  async stop(): Promise<void> {
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Splits the sessions' endpoint lists over `workers` processes, round robin. */
export function split<T>(items: T[], workers: number): T[][] {
  const parts: T[][] = Array.from({ length: Math.min(workers, items.length) }, () => []);
  items.forEach((item, i) => parts[i % parts.length]!.push(item));
  return parts;
}

/** Runs load or populate jobs in parallel worker processes, started together; returns each one's result. */
export async function runJobs(jobs: Job[]): Promise<LoadResult[]> {
  const workers = jobs.map((job) => new Worker(job));
  try {
    await Promise.all(workers.map((w) => w.next('ready')));
    const results = workers.map((w) => w.next('result', 3_600_000));
    for (const w of workers) w.send({ type: 'go' });
    return (await Promise.all(results)).map((m) => m.result);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** Watcher processes: arm() registers every session's one-shot watch; fired() waits for the notifications. */
export async function startWatchers(jobs: WatchJob[]) {
  const workers = jobs.map((job) => new Worker(job));
  try {
    await Promise.all(workers.map((w) => w.next('ready', 300_000)));
  } catch (error) {
    await Promise.all(workers.map((w) => w.stop()));
    throw error;
  }
  return {
    /** resolves once all watches are registered, with a promise of the notifications */
    async arm(): Promise<{ fired: Promise<{ count: number; lastMs: number }[]> }> {
      const fired = workers.map((w) => w.next('fired', 60_000));
      fired.forEach((p) => p.catch(() => undefined));
      await Promise.all(workers.map((w) => (w.send({ type: 'arm' }), w.next('armed'))));
      // wrapped: an async function returning a bare promise would wait for it
      return { fired: Promise.all(fired) };
    },
    stop: () => Promise.all(workers.map((w) => w.stop())),
  };
}
