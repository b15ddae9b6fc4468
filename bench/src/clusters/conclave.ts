/**
 * Conclave: 3 conclave-server members of this checkout's build on loopback, with their defaults
 * (fsync on). Optional extra node flags (e.g. --cpu-prof) for the profiling runs.
 */
import { readFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort, MEMBER_NODE_FLAGS, SERVER_MAIN } from '@conclave/e2e/dist/harness/cluster.js';
import { unaryStubs } from '@conclave/e2e/dist/harness/raw.js';
import type { Cluster, MemoryReading } from './types.js';
import { fetchText, metric, rssBytes, running, spawnLogged, stopProc, waitFor, MemberProcesses, type Proc } from './proc.js';

interface Ports {
  client: number;
  peer: number;
  metrics: number;
}

export class ConclaveCluster extends MemberProcesses implements Cluster {
  readonly system = 'conclave' as const;
  readonly version: string;
  private readonly ports = new Map<number, Ports>();
  private initialCluster = '';

  constructor(private readonly dir: string, private readonly nodeArgs: string[] = []) {
    super();
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(SERVER_MAIN), '../../../package.json'), 'utf8')) as { version: string };
    this.version = pkg.version;
  }

  ids(): number[] {
    return [...this.ports.keys()];
  }

  endpoint(id: number): string {
    return `127.0.0.1:${this.ports.get(id)!.client}`;
  }

  protected launch(id: number, join = false): Proc {
    const ports = this.ports.get(id)!;
    mkdirSync(this.dir, { recursive: true });
    const args = [
      ...MEMBER_NODE_FLAGS,
      ...this.nodeArgs,
      SERVER_MAIN,
      '--id', String(id),
      '--data-dir', path.join(this.dir, `member-${id}`),
      '--host', '127.0.0.1',
      '--advertise-host', '127.0.0.1',
      '--client-port', String(ports.client),
      '--peer-port', String(ports.peer),
      '--metrics-port', String(ports.metrics),
      '--initial-cluster', this.initialCluster,
      ...(join ? ['--join'] : []),
    ];
    const proc = spawnLogged(process.execPath, args, path.join(this.dir, `member-${id}.log`));
    this.procs.set(id, proc);
    return proc;
  }

  private async allocate(id: number): Promise<void> {
    this.ports.set(id, { client: await freePort(), peer: await freePort(), metrics: await freePort() });
  }

  async start(): Promise<void> {
    for (const id of [1, 2, 3]) await this.allocate(id);
    this.initialCluster = [1, 2, 3].map((id) => `${id}=127.0.0.1:${this.ports.get(id)!.peer}/127.0.0.1:${this.ports.get(id)!.client}`).join(',');
    for (const id of [1, 2, 3]) this.launch(id);
    await this.leader(60_000);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => stopProc(p)));
    if (process.env.BENCH_KEEP === '1') console.log(`kept (BENCH_KEEP=1): ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGTERM every member and wait: --cpu-prof writes its profile on a clean exit. */
  async stopKeepingData(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => stopProc(p, 'SIGTERM', 30_000)));
  }

  async status(id: number): Promise<{ role: string; leader: number } | undefined> {
    if (!running(this.procs.get(id))) return undefined;
    return JSON.parse(await fetchText(`http://127.0.0.1:${this.ports.get(id)!.metrics}/status`)) as { role: string; leader: number };
  }

  async metrics(id: number): Promise<string> {
    return fetchText(`http://127.0.0.1:${this.ports.get(id)!.metrics}/metrics`);
  }

  async leader(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      'a Conclave leader',
      async () => {
        const ids = this.ids();
        const statuses = await Promise.all(ids.map((id) => this.status(id).catch(() => undefined)));
        const leaders = ids.filter((_, i) => statuses[i]?.role === 'leader');
        return leaders.length === 1 && statuses.filter((s) => s?.leader === leaders[0]).length >= 2 ? leaders[0] : undefined;
      },
      timeoutMs,
    );
  }

  async memory(id: number): Promise<MemoryReading> {
    const text = await this.metrics(id);
    // V8's heap leaves out the bytes of ArrayBuffers (the nodes' data, the log's slabs, the tree's
    // index), which a JVM's heap holds: Node's external memory counts them.
    const heap = metric(text, 'conclave_nodejs_heap_size_used_bytes');
    const external = metric(text, 'conclave_nodejs_external_memory_bytes');
    return { rssBytes: rssBytes(this.pid(id)), heapBytes: heap === undefined || external === undefined ? undefined : heap + external };
  }

  async replaceWithEmpty(id: number, beforeStart: () => Promise<void>) {
    // Conclave's way: the follower is removed and a new, empty member joins (as a learner).
    const leader = await this.leader();
    const stubs = unaryStubs(this.endpoint(leader));
    try {
      await stubs.cluster.removeMember({ id });
      await this.kill(id);
      const newId = Math.max(...this.ids()) + 1;
      await this.allocate(newId);
      const ports = this.ports.get(newId)!;
      await stubs.cluster.addMember({ id: newId, peerAddress: `127.0.0.1:${ports.peer}`, clientAddress: `127.0.0.1:${ports.client}` });
      await beforeStart();
      return { id: newId, spawnedAt: this.launch(newId, true).spawnedAt, how: 'member removed, new empty member joins as a learner' };
    } finally {
      stubs.close();
    }
  }

  catchUpNote(id: number): string {
    const file = path.join(this.dir, `member-${id}.log`);
    const log = readFileSync(file, 'utf8');
    return /[^\n]*installed snapshot[^\n]*/.exec(log)?.[0]?.slice(0, 200) ?? `no snapshot in the log: caught up by log entries`;
  }

  /** waits until member `id` answers /readyz */
  async ready(id: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(`member ${id} ready`, async () => ((await fetch(`http://127.0.0.1:${this.ports.get(id)!.metrics}/readyz`, { signal: AbortSignal.timeout(1000) })).ok ? true : undefined), timeoutMs);
  }
}
