/** Process helpers shared by the cluster launchers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';

export interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  spawnedAt: number;
}

/** every server process started by this run, so that none outlives it */
const live = new Set<ChildProcess>();

export function killAllSync(): void {
  for (const child of live) child.kill('SIGKILL');
}

export function spawnLogged(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Proc {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log], env });
  closeSync(log);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => (live.delete(child), resolve())));
  return { child, exited, spawnedAt: performance.now() };
}

export const running = (proc: Proc | undefined): proc is Proc => !!proc && proc.child.exitCode === null && proc.child.signalCode === null;

/** What the three cluster launchers share: one server process per member id, killed and restarted alike. */
export abstract class MemberProcesses {
  protected readonly procs = new Map<number, Proc>();

  /** starts member `id`'s process on its data (records it in `procs`) */
  protected abstract launch(id: number): Proc;

  /** kill -9; resolves when the process is gone */
  async kill(id: number): Promise<void> {
    await stopProc(this.procs.get(id), 'SIGKILL');
  }

  /** starts a stopped member again on its data; returns the spawn time (performance.now()) */
  async restart(id: number): Promise<number> {
    return this.launch(id).spawnedAt;
  }

  pid(id: number): number {
    return this.procs.get(id)!.child.pid!;
  }
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProc(proc: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (!running(proc)) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** Resident set size of a process, bytes. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Fails fast if a port we need is taken (e.g. by someone else's ZooKeeper). */
export function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', () => reject(new Error(`port ${port} is in use on 127.0.0.1`)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

/** Sends a ZooKeeper four-letter word and returns the answer. */
export function fourLetter(port: number, word: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(word));
    socket.on('data', (d) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

export async function fetchText(url: string, init: RequestInit = {}): Promise<string> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.text();
}

/** A gauge's value from a Prometheus text exposition. */
export function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : undefined;
}

/** CPU time (user + system) a process has used so far, ms. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}
