/**
 * Recipe workers as child processes (recipe-worker.ts), and the fenced resource that election
 * workers write to: a store that refuses a write whose fencing token is lower than one it has
 * accepted, as a real resource guarded by a lock should.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from './recipe-worker.js';

const WORKER_MAIN = fileURLToPath(new URL('./recipe-worker.js', import.meta.url));

export interface Worker {
  config: WorkerConfig;
  process: ChildProcess;
  /** stdout lines, parsed */
  lines: Record<string, unknown>[];
  stderr: string;
  /** resolves when the process exits: its code and its final result line */
  done: Promise<{ code: number | null; result: Record<string, unknown> | undefined; stderr: string }>;
  send(command: 'dump' | 'exit'): void;
  /** the next stdout line that has `key` */
  next(key: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const started = new Set<ChildProcess>();

/** Kills every worker still running (after a failed test, which may leave them waiting forever). */
export function killWorkers(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
}

export function startWorker(config: WorkerConfig): Worker {
  const child = spawn(process.execPath, [WORKER_MAIN, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(child);
  child.once('exit', () => started.delete(child));
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      lines.push(JSON.parse(buffered.slice(0, i)) as Record<string, unknown>);
      buffered = buffered.slice(i + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.on('error', () => undefined);
  const done = new Promise<{ code: number | null; result: Record<string, unknown> | undefined; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, result: lines.find((l) => l.done), stderr })),
  );
  let seen = 0;
  return {
    config,
    process: child,
    lines,
    get stderr() {
      return stderr;
    },
    done,
    send: (command) => child.stdin!.write(`${command}\n`),
    next: async (key, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = lines.findIndex((l, i) => i >= seen && key in l);
        if (index >= 0) {
          seen = index + 1;
          return lines[index]!;
        }
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`worker ${config.id}: no "${key}" line (stderr: ${stderr})`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
  };
}

/** Waits for every worker to finish; fails with their stderr if one did not succeed. */
export async function allDone(workers: Worker[]): Promise<Record<string, unknown>[]> {
  const results = await Promise.all(workers.map((w) => w.done));
  results.forEach((r, i) => {
    if (r.code !== 0 || !r.result) throw new Error(`worker ${workers[i]!.config.id} exited with ${r.code}: ${r.stderr}`);
  });
  return results.map((r) => r.result!);
}

export interface FencedWrite {
  token: number;
  w: number;
  accepted: boolean;
}

/** An HTTP store taking POST /write?token=N&w=ID: 200 if N >= every accepted token, else 409. */
export async function startFencedResource(): Promise<{ url: string; writes: FencedWrite[]; close(): Promise<void> }> {
  const writes: FencedWrite[] = [];
  let highest = -Infinity;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const token = Number(url.searchParams.get('token'));
    const accepted = token >= highest;
    if (accepted) highest = token;
    writes.push({ token, w: Number(url.searchParams.get('w')), accepted });
    res.writeHead(accepted ? 200 : 409).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    writes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
