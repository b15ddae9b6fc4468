// Makes the cluster's DNS names resolvable in a process on the host (tests, an operator run
// outside the cluster): patches dns.lookup and dns.promises.lookup so that names under
// cluster.local (and "<x>.svc", completed with cluster.local) are asked of the runner's DNS server.
// Use: node --import <repo>/e2e/dist/k8s/dns-preload.js ... with CONCLAVE_K8S_DNS=<gateway> set
// (the harness's cluster.env has it), or call installClusterDns() in-process.
import dns from 'node:dns';

type LookupCallback = (err: NodeJS.ErrnoException | null, address?: string | dns.LookupAddress[], family?: number) => void;

const original = dns.lookup;
const originalPromise = dns.promises.lookup;
let installed = false;

export function clusterName(hostname: string): string | undefined {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (h.endsWith('.cluster.local')) return h;
  if (h.endsWith('.svc')) return `${h}.cluster.local`;
  return undefined;
}

async function resolveCluster(name: string): Promise<string[]> {
  const server = process.env.CONCLAVE_K8S_DNS;
  if (!server) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name} (CONCLAVE_K8S_DNS not set)`), { code: 'ENOTFOUND', hostname: name });
  const r = new dns.promises.Resolver({ timeout: 1000, tries: 2 });
  r.setServers([server]);
  try {
    const ips = await r.resolve4(name);
    if (ips.length === 0) throw new Error('no records');
    return ips;
  } catch {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: name });
  }
}

export function installClusterDns(server?: string): void {
  if (server) process.env.CONCLAVE_K8S_DNS = server;
  if (installed) return;
  installed = true;
  const patched = function lookup(hostname: string, options: unknown, callback?: unknown): void {
    const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
    const opts = (typeof options === 'object' && options !== null ? options : typeof options === 'number' ? { family: options } : {}) as dns.LookupOptions;
    const name = typeof hostname === 'string' ? clusterName(hostname) : undefined;
    if (!name) return (original as (...a: unknown[]) => void)(hostname, options, callback);
    resolveCluster(name).then(
      (ips) => (opts.all ? cb(null, ips.map((address) => ({ address, family: 4 }))) : cb(null, ips[0], 4)),
      (err: NodeJS.ErrnoException) => cb(err),
    );
  };
  (dns as { lookup: unknown }).lookup = patched;
  (dns.promises as { lookup: unknown }).lookup = async (hostname: string, options?: dns.LookupOptions) => {
    const name = clusterName(hostname);
    if (!name) return originalPromise(hostname, options ?? {});
    const ips = await resolveCluster(name);
    return options?.all ? ips.map((address) => ({ address, family: 4 })) : { address: ips[0], family: 4 };
  };
}

if (process.env.CONCLAVE_K8S_DNS) installClusterDns();
