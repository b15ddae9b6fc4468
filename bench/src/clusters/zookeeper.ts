/**
 * ZooKeeper 3.8 from Debian's package, 3 members on loopback, configured exactly as
 * shared/design/performance.md says (fsync on: ZooKeeper's default forceSync=yes).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster, MemoryReading } from './types.js';
import { assertPortFree, fourLetter, logTail, rssBytes, running, spawnLogged, stopProc, waitFor, MemberProcesses, type Proc } from './proc.js';

const CLASSPATH = '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar';
const clientPort = (id: number) => 2180 + id;

export class ZooKeeperCluster extends MemberProcesses implements Cluster {
  readonly system = 'zookeeper' as const;
  readonly version = '3.8.0';

  constructor(private readonly dir: string) {
    super();
  }

  ids(): number[] {
    return [1, 2, 3];
  }

  endpoint(id: number): string {
    return `127.0.0.1:${clientPort(id)}`;
  }

  private memberDir(id: number) {
    return path.join(this.dir, `member-${id}`);
  }

  private writeConfig(id: number): string {
    const dataDir = path.join(this.memberDir(id), 'data');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path.join(dataDir, 'myid'), `${id}\n`);
    const cfg = path.join(this.memberDir(id), 'zoo.cfg');
    writeFileSync(
      cfg,
      [
        'tickTime=2000',
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${dataDir}`,
        `clientPort=${clientPort(id)}`,
        'maxClientCnxns=0',
        'admin.enableServer=false',
        'server.1=127.0.0.1:2888:3888',
        'server.2=127.0.0.1:2889:3889',
        'server.3=127.0.0.1:2890:3890',
        '',
      ].join('\n'),
    );
    return cfg;
  }

  protected launch(id: number): Proc {
    const cfg = path.join(this.memberDir(id), 'zoo.cfg');
    const proc = spawnLogged('java', ['-cp', CLASSPATH, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg], path.join(this.memberDir(id), 'member.log'));
    this.procs.set(id, proc);
    return proc;
  }

  async start(): Promise<void> {
    for (const id of this.ids()) for (const port of [clientPort(id), 2887 + id, 3887 + id]) await assertPortFree(port);
    for (const id of this.ids()) this.writeConfig(id);
    for (const id of this.ids()) this.launch(id);
    await this.leader(60_000);
  }

  async stop(): Promise<void> {
    await Promise.all(this.ids().map((id) => stopProc(this.procs.get(id))));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async mode(id: number): Promise<string | undefined> {
    if (!running(this.procs.get(id))) return undefined;
    const out = await fourLetter(clientPort(id), 'srvr').catch(() => '');
    return /Mode: (\w+)/.exec(out)?.[1];
  }

  async leader(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      'a ZooKeeper leader',
      async () => {
        const modes = await Promise.all(this.ids().map((id) => this.mode(id)));
        const leaders = this.ids().filter((_, i) => modes[i] === 'leader');
        const serving = modes.filter((m) => m === 'leader' || m === 'follower').length;
        return leaders.length === 1 && serving >= 2 ? leaders[0] : undefined;
      },
      timeoutMs,
    );
  }

  async memory(id: number): Promise<MemoryReading> {
    const pid = this.pid(id);
    let heapBytes: number | undefined;
    try {
      // A full GC first, so that the heap is the live data (jcmd comes with the JDK, not the JRE).
      execFileSync('jcmd', [String(pid), 'GC.run'], { stdio: 'pipe', timeout: 60_000 });
      const info = execFileSync('jcmd', [String(pid), 'GC.heap_info'], { encoding: 'utf8', timeout: 60_000 });
      const used = /used (\d+)K/.exec(info);
      if (used) heapBytes = Number(used[1]) * 1024;
    } catch {
      // no jcmd here: RSS only
    }
    return { rssBytes: rssBytes(pid), heapBytes };
  }

  async replaceWithEmpty(id: number, beforeStart: () => Promise<void>) {
    // ZooKeeper's way: the member restarts with an empty dataDir (same myid) and the leader sends it a SNAP.
    await this.kill(id);
    rmSync(path.join(this.memberDir(id), 'data', 'version-2'), { recursive: true, force: true });
    await beforeStart();
    return { id, spawnedAt: await this.restart(id), how: 'same member, data dir wiped (leader sends SNAP)' };
  }

  catchUpNote(id: number): string {
    const log = readFileSync(path.join(this.memberDir(id), 'member.log'), 'utf8');
    return /Getting a (snapshot|diff|truncate)[^\n]*/i.exec(log.slice(-200_000))?.[0] ?? logTail(path.join(this.memberDir(id), 'member.log'), 1);
  }
}
