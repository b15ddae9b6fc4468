/**
 * etcd 3.4 from Debian's package, 3 members on loopback, as shared/design/performance.md says
 * (fsync on: etcd always fsyncs its WAL). Member N serves clients on N2379 and peers on N2380.
 */
import { readFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Cluster, MemoryReading } from './types.js';
import { assertPortFree, fetchText, logTail, metric, rssBytes, running, spawnLogged, stopProc, waitFor, MemberProcesses, type Proc } from './proc.js';

const clientUrl = (id: number) => `http://127.0.0.1:${id}2379`;
const peerUrl = (id: number) => `http://127.0.0.1:${id}2380`;

interface Status {
  header: { member_id: string };
  leader: string;
}

export class EtcdCluster extends MemberProcesses implements Cluster {
  readonly system = 'etcd' as const;
  readonly version = '3.4.23';
  private members = [1, 2, 3];
  private initialCluster = this.members.map((id) => `e${id}=${peerUrl(id)}`).join(',');
  private state: 'new' | 'existing' = 'new';

  constructor(private readonly dir: string) {
    super();
  }

  ids(): number[] {
    return [...this.members];
  }

  endpoint(id: number): string {
    return `127.0.0.1:${id}2379`;
  }

  protected launch(id: number): Proc {
    const dataDir = path.join(this.dir, `member-${id}`);
    mkdirSync(this.dir, { recursive: true });
    const proc = spawnLogged(
      'etcd',
      [
        '--name', `e${id}`,
        '--data-dir', dataDir,
        '--listen-client-urls', clientUrl(id),
        '--advertise-client-urls', clientUrl(id),
        '--listen-peer-urls', peerUrl(id),
        '--initial-advertise-peer-urls', peerUrl(id),
        '--initial-cluster', this.initialCluster,
        '--initial-cluster-state', this.state,
        '--enable-pprof', // the memory reading's garbage collection (/debug/pprof/heap?gc=1)
      ],
      path.join(this.dir, `member-${id}.log`),
    );
    this.procs.set(id, proc);
    return proc;
  }

  async start(): Promise<void> {
    for (const id of this.members) for (const port of [Number(`${id}2379`), Number(`${id}2380`)]) await assertPortFree(port);
    for (const id of this.members) this.launch(id);
    await this.leader(60_000);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => stopProc(p)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async status(id: number): Promise<Status | undefined> {
    if (!running(this.procs.get(id))) return undefined;
    return JSON.parse(await fetchText(`${clientUrl(id)}/v3/maintenance/status`, { method: 'POST', body: '{}' })) as Status;
  }

  async leader(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      'an etcd leader',
      async () => {
        const statuses = await Promise.all(this.members.map((id) => this.status(id).catch(() => undefined)));
        const leaderIds = new Set(statuses.filter((s) => s && s.leader !== '0').map((s) => s!.leader));
        if (leaderIds.size !== 1 || statuses.filter(Boolean).length < 2) return undefined;
        const [leader] = leaderIds;
        const index = statuses.findIndex((s) => s?.header.member_id === leader);
        return index >= 0 ? this.members[index] : undefined;
      },
      timeoutMs,
    );
  }

  async memory(id: number): Promise<MemoryReading> {
    // A collection first (Go's heap profile with gc=1 runs one), so that the heap is the live data
    // and not whatever garbage the last collection left: without it the readings before and after
    // the populate gave negative differences at times.
    await fetchText(`${clientUrl(id)}/debug/pprof/heap?gc=1`);
    const text = await fetchText(`${clientUrl(id)}/metrics`);
    return { rssBytes: rssBytes(this.pid(id)), heapBytes: metric(text, 'go_memstats_heap_alloc_bytes') };
  }

  async replaceWithEmpty(id: number, beforeStart: () => Promise<void>) {
    // etcd's way: remove the member, add a new one, start it empty with --initial-cluster-state existing.
    // Through the JSON gateway: etcd3 encodes uint64 member ids >= 2^63 wrongly ("member not found").
    const others = this.members.filter((m) => m !== id);
    const call = async <T>(method: string, body: object): Promise<T> => JSON.parse(await fetchText(`${clientUrl(others[0]!)}/v3/cluster/member/${method}`, { method: 'POST', body: JSON.stringify(body) })) as T;
    const { members } = await call<{ members: { ID: string; name: string }[] }>('list', {});
    const member = members.find((m) => m.name === `e${id}`);
    if (!member) throw new Error(`etcd member e${id} not in the member list`);
    // etcd refuses to remove a member while the cluster looks unhealthy (e.g. just after a restart)
    await waitFor('etcd member removal', async () => (await call('remove', { ID: member.ID }), true), 60_000, 500);
    await this.kill(id);
    const newId = Math.max(...this.procs.keys()) + 1;
    await assertPortFree(Number(`${newId}2379`));
    await call('add', { peerURLs: [peerUrl(newId)] });
    this.members = [...others, newId];
    this.initialCluster = this.members.map((m) => `e${m}=${peerUrl(m)}`).join(',');
    this.state = 'existing';
    await beforeStart();
    return { id: newId, spawnedAt: this.launch(newId).spawnedAt, how: 'member removed, new empty member added' };
  }

  catchUpNote(id: number): string {
    const log = readFileSync(path.join(this.dir, `member-${id}.log`), 'utf8');
    return /[^\n]*(applied incoming snapshot|received and saved database snapshot)[^\n]*/.exec(log)?.[0]?.slice(0, 200) ?? `no snapshot in the log: caught up by log entries (${logTail(path.join(this.dir, `member-${id}.log`), 1).slice(0, 120)})`;
  }
}
