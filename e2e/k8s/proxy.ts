// A userspace service proxy (what kube-proxy's old "userspace" mode did): each Service ClusterIP
// is added to the runner's bridge as a local address, and for each TCP port a listener on
// <clusterIP>:<port> forwards every connection to one ready endpoint's <podIP>:<targetPort>, picked
// at random from the Service's EndpointSlices. Pods route the service range to the gateway; host
// processes reach the ClusterIPs directly (they are local addresses).
import net from 'node:net';
import type { KObject } from './kube.js';
import { ip } from './netns.js';

export interface Backend {
  ip: string;
  port: number;
}

interface Route {
  namespace: string;
  service: string;
  portName: string;
  /** Fixed backend (the API server for default/kubernetes, which has no endpoints here). */
  fixed?: Backend;
}

/** The ready backends of a service port, from its EndpointSlices (pure). */
export function backends(slices: KObject[], namespace: string, service: string, portName: string): Backend[] {
  const out: Backend[] = [];
  for (const s of slices) {
    if (s.metadata.namespace !== namespace || s.metadata.labels?.['kubernetes.io/service-name'] !== service) continue;
    if (s.addressType && s.addressType !== 'IPv4') continue;
    const ports = (s.ports ?? []) as Array<{ name?: string; port?: number; protocol?: string }>;
    const port = ports.find((p) => (p.name ?? '') === portName) ?? (ports.length === 1 ? ports[0] : undefined);
    if (!port?.port) continue;
    for (const ep of (s.endpoints ?? []) as KObject[]) {
      if (ep.conditions?.ready !== true) continue;
      for (const addr of (ep.addresses ?? []) as string[]) out.push({ ip: addr, port: port.port });
    }
  }
  return out;
}

export class ServiceProxy {
  private readonly listeners = new Map<string, net.Server>();
  private readonly routes = new Map<string, Route>();
  private readonly addresses = new Set<string>();
  private slices: KObject[] = [];
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly bridge: string,
    private readonly apiServer: Backend,
    private readonly log: (line: string) => void,
  ) {}

  /** Brings addresses and listeners in line with the Services (serialised; safe to call often). */
  sync(services: KObject[], slices: KObject[]): Promise<void> {
    this.slices = slices;
    this.chain = this.chain.then(() => this.apply(services)).catch((e) => this.log(`service proxy: ${String(e)}`));
    return this.chain;
  }

  private async apply(services: KObject[]): Promise<void> {
    if (this.closed) return;
    const want = new Map<string, Route>();
    for (const s of services) {
      const clusterIP: string | undefined = s.spec?.clusterIP;
      if (!clusterIP || clusterIP === 'None' || s.spec?.type === 'ExternalName' || clusterIP.includes(':')) continue;
      const isApi = s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes';
      for (const p of (s.spec.ports ?? []) as Array<{ name?: string; port: number; protocol?: string }>) {
        if ((p.protocol ?? 'TCP') !== 'TCP') continue;
        want.set(`${clusterIP}:${p.port}`, {
          namespace: s.metadata.namespace!,
          service: s.metadata.name,
          portName: p.name ?? '',
          ...(isApi ? { fixed: this.apiServer } : {}),
        });
      }
    }
    const wantIPs = new Set([...want.keys()].map((k) => k.split(':')[0]!));
    for (const addr of wantIPs) {
      if (this.addresses.has(addr)) continue;
      await ip('addr', 'replace', `${addr}/32`, 'dev', this.bridge);
      this.addresses.add(addr);
    }
    for (const [key, server] of this.listeners) {
      if (want.has(key)) continue;
      server.close();
      this.listeners.delete(key);
      this.routes.delete(key);
    }
    for (const [key, route] of want) {
      this.routes.set(key, route);
      if (this.listeners.has(key)) continue;
      const [host, port] = key.split(':') as [string, string];
      const server = net.createServer((sock) => this.forward(key, sock));
      server.on('error', (e) => this.log(`service proxy ${key}: ${String(e)}`));
      await new Promise<void>((resolve) => server.listen(Number(port), host, resolve));
      this.listeners.set(key, server);
    }
    for (const addr of [...this.addresses]) {
      if (wantIPs.has(addr)) continue;
      await ip('addr', 'del', `${addr}/32`, 'dev', this.bridge).catch(() => undefined);
      this.addresses.delete(addr);
    }
  }

  private forward(key: string, sock: net.Socket): void {
    const route = this.routes.get(key);
    const candidates = route?.fixed ? [route.fixed] : route ? backends(this.slices, route.namespace, route.service, route.portName) : [];
    const target = candidates[Math.floor(Math.random() * candidates.length)];
    if (!target) {
      sock.resetAndDestroy();
      return;
    }
    const up = net.connect(target.port, target.ip);
    sock.pipe(up).pipe(sock);
    sock.on('error', () => up.destroy());
    up.on('error', () => sock.resetAndDestroy());
  }

  close(): void {
    this.closed = true;
    for (const s of this.listeners.values()) s.close();
    this.listeners.clear();
  }
}
