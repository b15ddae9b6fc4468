/**
 * A real cluster under a nemesis: TestCluster members (real conclave-server processes on loopback)
 * whose peer links all go through PeerProxies, plus the operations faults are made of: kill -9,
 * SIGSTOP/SIGCONT, partitions (symmetric, one-way, bridge), slow links, and membership changes
 * through the Cluster admin API (remove a member, add a new one with a new id as a learner, promote).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { LogArchive } from './archive.js';
import { unaryStubs } from '../harness/raw.js';
import { TestCluster, type ClusterOptions, type MemberProcess } from '../harness/cluster.js';
import { PeerProxies, type LinkMode } from './proxy.js';

export interface NemesisClusterOptions {
  members: number;
  settings?: ClusterOptions['settings'];
  dir?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class NemesisCluster {
  /** ids of the current members (voters once promoted); removed ones leave, replacements join */
  readonly current: number[];
  /** every id ever used (a removed id may not come back) */
  private nextId: number;
  private paused = new Set<number>();
  /** every segment of every member's WAL, kept for the replay of the whole committed log */
  readonly archive: LogArchive;

  private constructor(
    readonly cluster: TestCluster,
    readonly proxies: PeerProxies,
    members: number,
  ) {
    this.current = Array.from({ length: members }, (_, i) => i + 1);
    this.nextId = members + 1;
    this.archive = new LogArchive(path.join(cluster.dir, 'wal-archive'));
    for (const id of this.current) this.archive.add(id, cluster.member(id).dataDir);
    this.archive.start();
  }

  static async start(options: NemesisClusterOptions): Promise<NemesisCluster> {
    // Ports are picked free and bound by the members a moment later: on a busy machine another
    // process may take one in between. Try again with new ones.
    for (let attempt = 1; ; attempt++) {
      const proxies = new PeerProxies();
      try {
        const cluster = await TestCluster.start({
          members: options.members,
          settings: { logLevel: 'info', ...options.settings },
          dir: options.dir,
          peerAddress: async (m: MemberProcess) => `127.0.0.1:${await proxies.add(m.id, m.peerPort)}`,
        });
        return new NemesisCluster(cluster, proxies, options.members);
      } catch (error) {
        await proxies.close();
        if (attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
      }
    }
  }

  get dir(): string {
    return this.cluster.dir;
  }

  /** Client endpoints of the current members. */
  endpoints(ids: number[] = this.current): string {
    return this.cluster.endpoints(ids);
  }

  running(id: number): boolean {
    return this.cluster.running(id);
  }

  // ------------------------------------------------------------------ processes

  async kill(id: number): Promise<void> {
    this.paused.delete(id);
    await this.cluster.kill(id, 'SIGKILL');
  }

  /** Restarts a killed member (no-op if it runs). Does not wait for it to be ready: it may be partitioned. */
  async restart(id: number): Promise<void> {
    if (this.cluster.running(id)) return;
    await this.cluster.launch(this.cluster.member(id));
  }

  pause(id: number): void {
    if (!this.cluster.running(id)) return;
    this.paused.add(id);
    this.cluster.pause(id);
  }

  resume(id: number): void {
    if (!this.paused.delete(id)) return;
    this.cluster.resume(id);
  }

  // ------------------------------------------------------------------ network

  /** Blocks the directed link from -> to. */
  block(from: number, to: number, mode: LinkMode = { kind: 'blackhole' }): void {
    this.proxies.setLink(from, to, mode);
  }

  /** Cuts every link between members of different groups, both ways. */
  partition(groups: number[][], mode: LinkMode = { kind: 'blackhole' }): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const from of a) for (const to of b) this.proxies.setLink(from, to, mode);
      }
    }
  }

  setLink(from: number, to: number, mode: LinkMode): void {
    this.proxies.setLink(from, to, mode);
  }

  /** Every link back to normal; `healChoice` decides whether each held connection resumes or is reset. */
  healNetwork(healChoice?: () => boolean): void {
    this.proxies.healAll(healChoice);
  }

  // ------------------------------------------------------------------ status

  async status(id: number) {
    return this.cluster.status(id);
  }

  /** The leader the running current members agree on. */
  async leader(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ids = this.current.filter((id) => this.running(id) && !this.paused.has(id));
      const statuses = await Promise.all(ids.map((id) => this.cluster.status(id)));
      const leaders = statuses.filter((s) => s?.role === 'leader');
      if (leaders.length === 1 && statuses.every((s) => s && s.leader === leaders[0]!.id)) return leaders[0]!.id;
      if (Date.now() > deadline) {
        throw new Error(`no agreed leader within ${timeoutMs} ms: ${JSON.stringify(statuses.map((s) => s && { id: s.id, role: s.role, leader: s.leader, term: s.term }))}`);
      }
      await sleep(100);
    }
  }

  /** The leader if there is an agreed one right now, else undefined (does not wait). */
  async leaderNow(): Promise<number | undefined> {
    return this.leader(0).catch(() => undefined);
  }

  /**
   * Heals everything (network, pauses, killed members) and waits until the current members agree on
   * a leader and every one of them has applied everything committed.
   */
  async healAll(timeoutMs = 60_000): Promise<void> {
    this.healNetwork();
    for (const id of [...this.paused]) this.resume(id);
    for (const id of this.current) await this.restart(id);
    await this.waitConverged(timeoutMs);
  }

  /** Waits until all current members agree on a leader and have applied the leader's commit index. */
  async waitConverged(timeoutMs = 60_000): Promise<{ leader: number; commitIndex: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader(Math.max(1, deadline - Date.now()));
      const statuses = await Promise.all(this.current.map((id) => this.cluster.status(id)));
      const leaderStatus = statuses.find((s) => s?.id === leader);
      if (leaderStatus && statuses.every((s) => s && s.appliedIndex >= leaderStatus.commitIndex && s.leader === leader)) {
        return { leader, commitIndex: leaderStatus.commitIndex };
      }
      if (Date.now() > deadline) throw new Error(`members did not converge within ${timeoutMs} ms: ${JSON.stringify(statuses)}`);
      await sleep(100);
    }
  }

  // ------------------------------------------------------------------ membership

  /**
   * Replaces member `id`: removes it through the admin API, stops it, wipes its data (its log stays in
   * the archive), then adds a member with a new id as a learner, starts it with --join and promotes
   * it once caught up.
   * Needs a healthy cluster. Returns the new id.
   */
  async replace(id: number, log: (line: string) => void = () => undefined): Promise<number> {
    const admin = async <T>(call: (stubs: ReturnType<typeof unaryStubs>) => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        const leader = await this.leader();
        const stubs = unaryStubs(this.cluster.endpoints([leader]));
        try {
          return await call(stubs);
        } catch (error) {
          if (attempt >= 60) throw error;
          await sleep(250);
        } finally {
          stubs.close();
        }
      }
    };
    if ((await this.leader()) === id) {
      const to = this.current.find((m) => m !== id)!;
      await admin((s) => s.cluster.transferLeadership({ to }));
    }
    await admin((s) => s.cluster.removeMember({ id }).catch((error: { code?: string }) => {
      // A retry after an unknown outcome: the member is gone already.
      if (error.code === 'NO_NODE') return undefined;
      throw error;
    }));
    this.current.splice(this.current.indexOf(id), 1);
    await this.kill(id);
    this.archive.sweep(id);
    rmSync(this.cluster.member(id).dataDir, { recursive: true, force: true });
    log(`removed member ${id}`);

    const newId = this.nextId++;
    const spec = await this.cluster.newSpec(newId);
    const proxyPort = await this.proxies.add(newId, spec.peerPort);
    this.cluster.members.set(newId, spec);
    this.archive.add(newId, spec.dataDir);
    await admin((s) =>
      s.cluster.addMember({ id: newId, peerAddress: `127.0.0.1:${proxyPort}`, clientAddress: `127.0.0.1:${spec.clientPort}` }).catch((error: { message?: string }) => {
        if (/already in the cluster/.test(error.message ?? '')) return undefined;
        throw error;
      }),
    );
    await this.cluster.launch(spec, { join: true });
    await this.cluster.waitReady([newId], 60_000);
    log(`added member ${newId} as a learner`);
    await admin((s) => s.cluster.promoteMember({ id: newId }).catch((error: { message?: string }) => {
      if (/already a voter/.test(error.message ?? '')) return undefined;
      throw error;
    }));
    this.current.push(newId);
    log(`promoted member ${newId}`);
    return newId;
  }

  // ------------------------------------------------------------------ lifecycle

  logTail(id: number, lines = 30): string {
    return this.cluster.logTail(id, lines);
  }

  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    this.archive.stop();
    for (const id of [...this.paused]) this.resume(id);
    this.proxies.healAll();
    await this.proxies.close();
    await this.cluster.stop(options);
  }
}
