/**
 * Fault-injecting TCP proxies for the links between members.
 *
 * One proxy listens in front of each member's peer port, and every member's --initial-cluster names
 * the proxies (all members must get the same string: the cluster id is derived from it, so a
 * different address per member and link is not possible). A proxy tells which member dialed it by
 * the process that owns the other end of the connection (Linux: /proc/net/tcp gives the socket's
 * inode, /proc/<pid>/fd of this process's children gives the owner, its command line the --id), so
 * it can treat each directed link from -> to on its own:
 *
 *   ok         bytes flow
 *   blackhole  bytes are held, as in a network that silently drops packets; new connections are
 *              accepted but not forwarded. On heal, each held connection either resumes (TCP
 *              retransmitted in time) or is reset (TCP gave up), chosen by the caller's random source
 *   reject     connections are reset and new ones refused at once
 *   delay      every chunk is forwarded after `delayMs`, in order
 *
 * Members send their Raft messages on the connection they dialed (the reply direction carries only
 * acknowledgements), so blocking from -> to is a one-way partition: `to` hears nothing from `from`
 * while `from` still hears `to`.
 */
import net from 'node:net';
import { readdir, readFile, readlink } from 'node:fs/promises';

export type LinkMode = { kind: 'ok' } | { kind: 'blackhole' } | { kind: 'reject' } | { kind: 'delay'; delayMs: number };

export const OK: LinkMode = { kind: 'ok' };

/** Bytes held per connection before the proxy gives up and resets it. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;

interface Delayed {
  queue: { due: number; chunk: Buffer }[];
  timer: NodeJS.Timeout | undefined;
}

interface Pipe {
  from: number;
  to: number;
  inbound: net.Socket;
  outbound: net.Socket | undefined;
  /** chunks waiting while blackholed (direction: true = towards the member) */
  held: { towardsTarget: boolean; chunk: Buffer }[];
  heldBytes: number;
  /** per direction (towards the target, back): delayed chunks, in order, and the timer that sends them */
  delayed: [Delayed, Delayed];
  closed: boolean;
}

export class PeerProxies {
  private readonly servers = new Map<number, { server: net.Server; port: number; targetPort: number }>();
  private readonly links = new Map<string, LinkMode>();
  private readonly pipes = new Set<Pipe>();
  /** connections accepted and not yet identified (no pipe yet) */
  private readonly identifying = new Set<net.Socket>();
  private closed = false;
  /** sockets whose writes wait for 'drain' */
  private readonly draining = new WeakSet<net.Socket>();
  /** connections forwarded, refused and reset, for the report */
  readonly stats = { connections: 0, unidentified: 0, refused: 0, resetOnHeal: 0, resumedOnHeal: 0 };


  /** Starts the proxy in front of member `id`'s peer port; returns the port to give to the others. */
  async add(id: number, targetPort: number): Promise<number> {
    const server = net.createServer((socket) => void this.accept(id, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    this.servers.set(id, { server, port, targetPort });
    return port;
  }

  port(id: number): number {
    const entry = this.servers.get(id);
    if (!entry) throw new Error(`no proxy for member ${id}`);
    return entry.port;
  }

  mode(from: number, to: number): LinkMode {
    return this.links.get(`${from}->${to}`) ?? OK;
  }

  /** Sets the mode of the directed link from -> to. `healChoice` decides, for each held connection, whether it resumes (true) or is reset. */
  setLink(from: number, to: number, mode: LinkMode, healChoice: () => boolean = () => true): void {
    const key = `${from}->${to}`;
    if (mode.kind === 'ok') this.links.delete(key);
    else this.links.set(key, mode);
    for (const pipe of [...this.pipes]) {
      if (pipe.from !== from || pipe.to !== to) continue;
      if (mode.kind === 'reject') this.closePipe(pipe);
      else if (mode.kind !== 'blackhole' && pipe.held.length + (pipe.outbound ? 0 : 1) > 0) {
        if (healChoice()) {
          this.stats.resumedOnHeal++;
          this.release(pipe);
        } else {
          this.stats.resetOnHeal++;
          this.closePipe(pipe);
        }
      }
    }
  }

  /** Every link back to ok. */
  healAll(healChoice: () => boolean = () => true): void {
    for (const key of [...this.links.keys()]) {
      const [from, to] = key.split('->').map(Number) as [number, number];
      this.setLink(from, to, OK, healChoice);
    }
  }

  /** Links that are not ok, as "1->2 blackhole" strings. */
  describe(): string[] {
    return [...this.links].map(([key, mode]) => `${key} ${mode.kind}${mode.kind === 'delay' ? ` ${mode.delayMs}ms` : ''}`);
  }

  /** Stops every proxy and drops every connection. */
  async close(): Promise<void> {
    this.closed = true;
    // server.close waits for every accepted connection to end: one still being identified would
    // keep it waiting for as long as its member lives.
    for (const socket of this.identifying) socket.destroy();
    for (const pipe of [...this.pipes]) this.closePipe(pipe);
    await Promise.all([...this.servers.values()].map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private closePipe(pipe: Pipe): void {
    if (pipe.closed) return;
    pipe.closed = true;
    this.pipes.delete(pipe);
    for (const d of pipe.delayed) clearTimeout(d.timer);
    pipe.inbound.destroy();
    pipe.outbound?.destroy();
  }

  // ------------------------------------------------------------------ connections

  private async accept(to: number, inbound: net.Socket): Promise<void> {
    inbound.on('error', () => undefined);
    inbound.pause();
    this.identifying.add(inbound);
    const from = await this.identify(inbound).catch(() => undefined);
    this.identifying.delete(inbound);
    if (this.closed) {
      inbound.destroy();
      return;
    }
    if (from === undefined) {
      // The dialing process is gone already (or is not a member): nothing to forward for.
      this.stats.unidentified++;
      inbound.destroy();
      return;
    }
    if (this.mode(from, to).kind === 'reject') {
      this.stats.refused++;
      inbound.resetAndDestroy();
      return;
    }
    this.stats.connections++;
    const pipe: Pipe = { from, to, inbound, outbound: undefined, held: [], heldBytes: 0, delayed: [{ queue: [], timer: undefined }, { queue: [], timer: undefined }], closed: false };
    this.pipes.add(pipe);
    inbound.on('close', () => this.closePipe(pipe));
    inbound.on('data', (chunk: Buffer) => this.forward(pipe, true, chunk));
    inbound.resume();
    if (this.mode(from, to).kind !== 'blackhole') this.connectOutbound(pipe);
  }

  private connectOutbound(pipe: Pipe): void {
    if (pipe.closed || pipe.outbound) return;
    const target = this.servers.get(pipe.to)!.targetPort;
    const outbound = net.connect(target, '127.0.0.1');
    pipe.outbound = outbound;
    outbound.on('error', () => undefined);
    outbound.on('close', () => this.closePipe(pipe));
    outbound.on('data', (chunk: Buffer) => this.forward(pipe, false, chunk));
  }

  private forward(pipe: Pipe, towardsTarget: boolean, chunk: Buffer): void {
    if (pipe.closed) return;
    const mode = this.mode(pipe.from, pipe.to);
    if (mode.kind === 'blackhole' || pipe.held.length > 0 || pipe.outbound === undefined) {
      pipe.held.push({ towardsTarget, chunk });
      pipe.heldBytes += chunk.length;
      if (pipe.heldBytes > MAX_HELD_BYTES) this.closePipe(pipe);
      return;
    }
    this.send(pipe, towardsTarget, chunk, mode);
  }

  /** Writes now, or after the link's delay (and after any chunk still delayed in that direction). */
  private send(pipe: Pipe, towardsTarget: boolean, chunk: Buffer, mode: LinkMode): void {
    const delayed = pipe.delayed[towardsTarget ? 0 : 1];
    if (mode.kind !== 'delay' && delayed.queue.length === 0) return this.write(pipe, towardsTarget, chunk);
    // Later chunks never overtake earlier ones, whatever the delay was when each arrived.
    const now = performance.now();
    const due = Math.max(now + (mode.kind === 'delay' ? mode.delayMs : 0), delayed.queue.at(-1)?.due ?? 0);
    delayed.queue.push({ due, chunk });
    this.schedule(pipe, towardsTarget);
  }

  private schedule(pipe: Pipe, towardsTarget: boolean): void {
    const delayed = pipe.delayed[towardsTarget ? 0 : 1];
    if (delayed.timer !== undefined || delayed.queue.length === 0) return;
    delayed.timer = setTimeout(() => {
      delayed.timer = undefined;
      const now = performance.now();
      while (delayed.queue.length > 0 && delayed.queue[0]!.due <= now + 1) this.write(pipe, towardsTarget, delayed.queue.shift()!.chunk);
      this.schedule(pipe, towardsTarget);
    }, Math.max(0, delayed.queue[0]!.due - performance.now()));
  }

  private write(pipe: Pipe, towardsTarget: boolean, chunk: Buffer): void {
    if (pipe.closed) return;
    const source = towardsTarget ? pipe.inbound : pipe.outbound!;
    const sink = towardsTarget ? pipe.outbound! : pipe.inbound;
    // One 'drain' wait per sink: held or delayed chunks are written in bursts, and a listener per
    // refused write piled up (Node's MaxListenersExceededWarning).
    if (!sink.write(chunk) && !this.draining.has(sink)) {
      this.draining.add(sink);
      source.pause();
      sink.once('drain', () => {
        this.draining.delete(sink);
        source.resume();
      });
    }
  }

  /** A blackholed link healed and this connection survived: deliver what was held, in order. */
  private release(pipe: Pipe): void {
    this.connectOutbound(pipe);
    const held = pipe.held;
    pipe.held = [];
    pipe.heldBytes = 0;
    const mode = this.mode(pipe.from, pipe.to);
    for (const { towardsTarget, chunk } of held) this.send(pipe, towardsTarget, chunk, mode);
  }

  /**
   * Which member owns the other end of this loopback connection: the child process of this one
   * holding the socket, and its --id.
   */
  private async identify(socket: net.Socket): Promise<number | undefined> {
    const inode = await socketInode(socket.remotePort!, socket.localPort!);
    if (inode === undefined) return undefined;
    const link = `socket:[${inode}]`;
    for (const pid of await childProcesses()) {
      const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      for (const fd of fds) {
        if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === link) return memberIdOf(pid);
      }
    }
    return undefined;
  }
}

/** Processes whose parent is this one. */
async function childProcesses(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) pids.push(Number(name));
  }
  return pids;
}

const idByPid = new Map<number, number | undefined>();

/** The --id argument of a conclave-server process. */
async function memberIdOf(pid: number): Promise<number | undefined> {
  if (!idByPid.has(pid)) {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const i = args.indexOf('--id');
    idByPid.set(pid, i >= 0 ? Number(args[i + 1]) : undefined);
  }
  return idByPid.get(pid);
}

/** The inode of the IPv4 loopback socket with local port `localPort` connected to port `remotePort`. */
async function socketInode(localPort: number, remotePort: number): Promise<string | undefined> {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(localPort)}`;
  const remote = `0100007F:${hex(remotePort)}`;
  const table = await readFile('/proc/net/tcp', 'utf8');
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote) return fields[9];
  }
  return undefined;
}
