// Pod networking: one Linux bridge per runner with the gateway address, one network namespace per
// pod joined to the bridge by a veth pair. Pods get their own IP in a private /24 and can bind any
// port; the host reaches them through the bridge. No default route: pods reach only each other and
// the gateway (the runner's DNS server and API proxy), nothing beyond this machine.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const STATE_DIR = '/run/conclave-k8s';

export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('ip', args);
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

async function ipQuiet(...args: string[]): Promise<void> {
  try {
    await execFileP('ip', args);
  } catch {
    /* already gone */
  }
}

export interface Subnet {
  /** First three octets, e.g. "10.213.7". */
  prefix: string;
  gateway: string;
  cidr: string;
}

export function subnetOf(prefix: string): Subnet {
  return { prefix, gateway: `${prefix}.1`, cidr: `${prefix}.0/24` };
}

/** A random 10.2xx.y.0/24 that no route or address on this machine uses. */
export async function pickSubnet(): Promise<Subnet> {
  const routes = await ip('-4', 'route', 'show', 'table', 'all');
  const addrs = await ip('-4', '-o', 'addr');
  for (let i = 0; i < 100; i++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${prefix}.`) && !addrs.includes(`${prefix}.`)) return subnetOf(prefix);
  }
  throw new Error('no free subnet');
}

/** A random 10.96.x.0/24 for Service ClusterIPs that no address on this machine uses. */
export async function pickServiceCidr(): Promise<string> {
  const addrs = await ip('-4', '-o', 'addr');
  for (let i = 0; i < 100; i++) {
    const prefix = `10.96.${Math.floor(Math.random() * 256)}`;
    if (!addrs.includes(`${prefix}.`)) return `${prefix}.0/24`;
  }
  throw new Error('no free service range');
}

/** Names derived from a short run tag (Linux interface names are at most 15 characters). */
export function names(tag: string): { bridge: string; netnsPrefix: string; vethPrefix: string } {
  return { bridge: `ckb-${tag}`, netnsPrefix: `ck-${tag}-`, vethPrefix: `ck${tag}` };
}

/** Removes bridges and namespaces left by runners that died without cleaning up. */
export async function cleanupStale(): Promise<string[]> {
  const removed: string[] = [];
  if (!existsSync(STATE_DIR)) return removed;
  const netnsList = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  for (const f of readdirSync(STATE_DIR)) {
    if (!f.endsWith('.pid')) continue;
    const tag = f.slice(0, -4);
    const pid = Number(readFileSync(`${STATE_DIR}/${f}`, 'utf8'));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      /* dead */
    }
    if (alive) continue;
    const n = names(tag);
    for (const ns of netnsList.filter((x) => x.startsWith(n.netnsPrefix))) await ipQuiet('netns', 'del', ns);
    await ipQuiet('link', 'del', n.bridge);
    rmSync(`${STATE_DIR}/${f}`, { force: true });
    removed.push(tag);
  }
  return removed;
}

export class PodNetwork {
  private readonly used = new Set<number>();
  private seq = 0;
  private next = 2;
  readonly bridge: string;
  private serviceCidr: string | undefined;

  private constructor(
    readonly subnet: Subnet,
    readonly tag: string,
  ) {
    this.bridge = names(tag).bridge;
  }

  /** serviceCidr: routed from every pod to the gateway, where the service proxy listens. */
  static async create(subnet: Subnet, tag: string, serviceCidr?: string): Promise<PodNetwork> {
    await cleanupStale();
    const net = new PodNetwork(subnet, tag);
    net.serviceCidr = serviceCidr;
    mkdirSync(STATE_DIR, { recursive: true });
    writeFileSync(`${STATE_DIR}/${tag}.pid`, String(process.pid));
    await ip('link', 'add', net.bridge, 'type', 'bridge');
    await ip('addr', 'add', `${subnet.gateway}/24`, 'dev', net.bridge);
    await ip('link', 'set', net.bridge, 'up');
    return net;
  }

  /** Round robin over .2-.254, so that a released address is not reused at once. */
  allocate(): string {
    for (let n = 0; n < 253; n++) {
      const i = this.next;
      this.next = this.next >= 254 ? 2 : this.next + 1;
      if (!this.used.has(i)) {
        this.used.add(i);
        return `${this.subnet.prefix}.${i}`;
      }
    }
    throw new Error('pod subnet exhausted');
  }

  release(addr: string): void {
    this.used.delete(Number(addr.split('.')[3]));
  }

  /** Creates the pod's namespace with eth0 = podIP/24 and lo up; returns the namespace name. */
  async addPod(podIP: string): Promise<string> {
    const n = names(this.tag);
    const id = ++this.seq;
    const netns = `${n.netnsPrefix}${id}`;
    const veth = `${n.vethPrefix}${id}`;
    // A neighbour entry left by an earlier pod with this address would point at a dead MAC.
    await ipQuiet('neigh', 'del', podIP, 'dev', this.bridge);
    await ip('netns', 'add', netns);
    try {
      await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('link', 'set', veth, 'master', this.bridge, 'up');
      await ip('-n', netns, 'addr', 'add', `${podIP}/24`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      if (this.serviceCidr) await ip('-n', netns, 'route', 'add', this.serviceCidr, 'via', this.subnet.gateway);
    } catch (e) {
      await ipQuiet('netns', 'del', netns);
      throw e;
    }
    return netns;
  }

  async removePod(netns: string, podIP: string): Promise<void> {
    await ipQuiet('netns', 'del', netns); // takes the veth pair with it
    await ipQuiet('neigh', 'del', podIP, 'dev', this.bridge);
    this.release(podIP);
  }

  async destroy(): Promise<void> {
    const prefix = names(this.tag).netnsPrefix;
    const left = existsSync('/run/netns') ? readdirSync('/run/netns').filter((x) => x.startsWith(prefix)) : [];
    for (const ns of left) await ipQuiet('netns', 'del', ns);
    await ipQuiet('link', 'del', this.bridge);
    rmSync(`${STATE_DIR}/${this.tag}.pid`, { force: true });
  }
}
