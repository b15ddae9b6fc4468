/**
 * Real Conclave members as child processes on loopback, for tests: start 1..N members on free
 * ports, kill -9 / SIGTERM / SIGSTOP them, restart them on the same data dir, find the leader.
 * Each member logs to <dir>/member-<id>.log; the log tail is printed when a start fails, and
 * when a test fails (failure-logs.ts, a mocha root hook) for every cluster the test started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { MEMBER_NODE_FLAGS } from '@conclave/server/dist/src/cli/node-flags.js';

/** The conclave-server entry point of this checkout's build. */
export { MEMBER_NODE_FLAGS };
export const SERVER_MAIN = path.join(path.dirname(createRequire(import.meta.url).resolve('@conclave/server/package.json')), 'dist/src/cli/main.js');

/** Every member process started by this process: killed when it exits, even after a failed test. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * A port that is free now, below Linux's ephemeral range (32768+): a port the kernel hands out
 * for port 0 can be taken by any outgoing connection before the member binds it (EADDRINUSE).
 */
/** Ports this process handed out: a port is free until its member binds it, so never twice. */
const issuedPorts = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (issuedPorts.has(port)) continue;
    issuedPorts.add(port);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export interface MemberProcess {
  id: number;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  dataDir: string;
  logFile: string;
  process: ChildProcess | undefined;
  exited: Promise<number | null> | undefined;
}

export interface ClusterOptions {
  members?: number;
  /** extra flags for every member, e.g. { tickMs: 200 } */
  settings?: Record<string, string | number | boolean>;
  dir?: string;
  /** extra node flags for every member, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] */
  nodeArgs?: string[];
  /**
   * Only the first `founders` members found the cluster (all of them by default); the others are
   * given ports and data dirs but not started: add them with the admin API, then `launch(m, { join: true })`.
   */
  founders?: number;
  /**
   * The peer address the other members dial for a member (default 127.0.0.1:<its peer port>), e.g.
   * a fault-injecting proxy in front of it. The member itself still listens on its own peer port.
   */
  peerAddress?: (member: MemberProcess) => string | Promise<string>;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

export class TestCluster {
  /**
   * Clusters started and not yet cleaned up. With `deferCleanup` (set by failure-logs.ts), stop()
   * keeps a cluster's dir until the test ends, so that its logs can be printed if the test failed.
   */
  static readonly open = new Set<TestCluster>();
  static deferCleanup = false;
  /** True once stop() ran (its dir may still be there, see deferCleanup). */
  stopped = false;

  readonly members = new Map<number, MemberProcess>();
  private constructor(
    readonly dir: string,
    private readonly settings: Record<string, string | number | boolean>,
    private readonly initialCluster: string,
    private readonly nodeArgs: string[],
  ) {}

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    // Another process may take a port between freePort() and the member's bind: try new ports.
    for (let attempt = 1; ; attempt++) {
      try {
        return await TestCluster.startOnce(options);
      } catch (error) {
        // (not with a caller's dir: the failed attempt may have founded a cluster in it)
        if (attempt >= 3 || options.dir !== undefined || !/EADDRINUSE/.test((error as Error).message)) throw error;
      }
    }
  }

  private static async startOnce(options: ClusterOptions): Promise<TestCluster> {
    const n = options.members ?? 1;
    const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'conclave-test-'));
    const specs: MemberProcess[] = [];
    for (let id = 1; id <= n; id++) {
      specs.push({
        id,
        clientPort: await freePort(),
        peerPort: await freePort(),
        metricsPort: await freePort(),
        dataDir: path.join(dir, `member-${id}`),
        logFile: path.join(dir, `member-${id}.log`),
        process: undefined,
        exited: undefined,
      });
    }
    const founding = specs.slice(0, options.founders ?? n);
    const peerAddress = options.peerAddress ?? ((m: MemberProcess) => `127.0.0.1:${m.peerPort}`);
    const entries: string[] = [];
    for (const m of founding) entries.push(`${m.id}=${await peerAddress(m)}/127.0.0.1:${m.clientPort}`);
    const initialCluster = n === 1 ? '' : entries.join(',');
    const cluster = new TestCluster(dir, options.settings ?? {}, initialCluster, options.nodeArgs ?? []);
    for (const m of specs) cluster.members.set(m.id, m);
    TestCluster.open.add(cluster);
    await Promise.all(founding.map((m) => cluster.launch(m)));
    try {
      await cluster.waitReady();
    } catch (error) {
      // Leave no member running behind a failed start (the data dir stays, for its logs).
      await cluster.stop({ keepData: true });
      throw error;
    }
    return cluster;
  }

  /** "127.0.0.1:p1,127.0.0.1:p2,..." of the members (running or not). */
  endpoints(ids?: number[]): string {
    return [...this.members.values()].filter((m) => !ids || ids.includes(m.id)).map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  }

  member(id: number): MemberProcess {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** A new member's ports and paths (not started, not yet in `members`): for adding members. */
  async newSpec(id: number): Promise<MemberProcess> {
    return {
      id,
      clientPort: await freePort(),
      peerPort: await freePort(),
      metricsPort: await freePort(),
      dataDir: path.join(this.dir, `member-${id}`),
      logFile: path.join(this.dir, `member-${id}.log`),
      process: undefined,
      exited: undefined,
    };
  }

  /** The running process id of a member, if it runs. */
  pid(id: number): number | undefined {
    return this.running(id) ? this.member(id).process!.pid : undefined;
  }

  /** Starts (or restarts) a member's process on its data dir. */
  async launch(m: MemberProcess, extra: Record<string, string | number | boolean> = {}): Promise<void> {
    const args = [
      ...MEMBER_NODE_FLAGS,
      ...this.nodeArgs,
      SERVER_MAIN,
      '--id', String(m.id),
      '--data-dir', m.dataDir,
      '--host', '127.0.0.1',
      '--advertise-host', '127.0.0.1',
      '--client-port', String(m.clientPort),
      '--peer-port', String(m.peerPort),
      '--metrics-port', String(m.metricsPort),
    ];
    if (this.initialCluster) args.push('--initial-cluster', this.initialCluster);
    const settings: Record<string, string | number | boolean> = { logLevel: 'info', ...this.settings, ...extra };
    for (const [key, value] of Object.entries(settings)) {
      if (value === true) args.push(`--${kebab(key)}`);
      else if (value !== false) args.push(`--${kebab(key)}`, String(value));
    }
    const log = openSync(m.logFile, 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    m.process = child;
    children.add(child);
    m.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        children.delete(child);
        resolve(code);
      }),
    );
  }

  async restart(id: number, extra: Record<string, string | number | boolean> = {}): Promise<void> {
    const m = this.member(id);
    if (m.process && m.process.exitCode === null && m.process.signalCode === null) throw new Error(`member ${id} is still running`);
    await this.launch(m, extra);
    await this.waitReady([id]);
  }

  /** kill -9 (or another signal); resolves when the process is gone. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.member(id);
    if (!m.process || m.process.exitCode !== null || m.process.signalCode !== null) return;
    m.process.kill(signal);
    await m.exited;
  }

  pause(id: number): void {
    this.member(id).process?.kill('SIGSTOP');
  }

  resume(id: number): void {
    this.member(id).process?.kill('SIGCONT');
  }

  running(id: number): boolean {
    const p = this.member(id).process;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  async status(
    id: number,
  ): Promise<{ id: number; role: string; leader: number; term: number; appliedIndex: number; commitIndex: number; snapshotIndex: number; logFirstIndex: number; logMemoryBytes: number } | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.member(id).metricsPort}/status`, { signal: AbortSignal.timeout(1000) });
      return (await res.json()) as never;
    } catch {
      return undefined;
    }
  }

  /** The leader that the running members agree on. */
  async leader(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all([...this.members.keys()].filter((id) => this.running(id)).map((id) => this.status(id)));
      const leaders = statuses.filter((s) => s?.role === 'leader');
      if (leaders.length === 1 && statuses.every((s) => s && s.leader === leaders[0]!.id)) return leaders[0]!.id;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no agreed leader within ${timeoutMs} ms`);
  }

  /** Waits until the given (default: all running) members answer /readyz. */
  async waitReady(ids?: number[], timeoutMs = 20_000): Promise<void> {
    const targets = ids ?? [...this.members.keys()].filter((id) => this.running(id));
    const deadline = Date.now() + timeoutMs;
    for (const id of targets) {
      const m = this.member(id);
      for (;;) {
        if (!this.running(id)) throw new Error(`member ${id} exited (code ${m.process?.exitCode}):\n${this.logTail(id)}`);
        try {
          const res = await fetch(`http://127.0.0.1:${m.metricsPort}/readyz`, { signal: AbortSignal.timeout(1000) });
          if (res.ok) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`member ${id} not ready within ${timeoutMs} ms:\n${this.logTail(id)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  logTail(id: number, lines = 30): string {
    try {
      return readFileSync(this.member(id).logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    await Promise.all([...this.members.keys()].map((id) => this.kill(id, 'SIGKILL')));
    this.stopped = true;
    if (options.keepData) TestCluster.open.delete(this);
    else if (!TestCluster.deferCleanup) this.cleanUp();
  }

  /** Removes a stopped cluster's dir. */
  cleanUp(): void {
    TestCluster.open.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
