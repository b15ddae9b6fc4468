// Pure functions of the pod runner: what the kubelet computes from a pod spec before it starts a
// container. $(VAR) expansion, the environment (env, envFrom, downward API, resource fields),
// image -> local command mapping, quantities. No I/O here: everything is unit-tested.
import type { KObject } from './kube.js';

// ---------------------------------------------------------------------------------------------
// $(VAR) expansion, exactly as k8s.io/kubernetes/third_party/forked/golang/expansion does it:
// $(NAME) -> value when NAME is defined, left as "$(NAME)" otherwise; $$ -> $; a "$" not followed by
// "(" or "$" is kept as is; an unterminated "$(" is kept as is.
// ---------------------------------------------------------------------------------------------
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') {
      out += '$';
    } else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close >= 0) {
        const name = rest.slice(1, close);
        const value = lookup(name);
        out += value ?? `$(${name})`;
        advance = close + 1;
      } else {
        out += '$(';
      }
    } else {
      out += '$' + rest[0];
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

// ---------------------------------------------------------------------------------------------
// Quantities ("500m", "1Gi", "2", "1e3").
// ---------------------------------------------------------------------------------------------
const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(q.trim());
  if (!m) throw new Error(`invalid quantity ${JSON.stringify(q)}`);
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2]);
  return base * SUFFIX[m[3] ?? '']!;
}

// ---------------------------------------------------------------------------------------------
// The environment of a container.
// ---------------------------------------------------------------------------------------------
export type DataMap = Record<string, string>;

export interface EnvContext {
  podIP: string;
  hostIP: string;
  /** Node allocatable, the default of resourceFieldRef limits. */
  nodeAllocatable: { cpu: string; memory: string; 'ephemeral-storage'?: string };
  /** ConfigMaps and Secrets of the pod's namespace (decoded), by name; absent = not found. */
  configMaps: Map<string, DataMap>;
  secrets: Map<string, DataMap>;
  /** Variables the kubelet adds for services (KUBERNETES_SERVICE_HOST...). */
  serviceEnv: DataMap;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** metadata.labels['a'] style selectors and the other fieldRef paths the kubelet supports. */
export function podField(pod: KObject, fieldPath: string, ctx: Pick<EnvContext, 'podIP' | 'hostIP'>): string {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (m) return pod.metadata[m[1] as 'labels' | 'annotations']?.[m[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata.labels ?? {});
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations ?? {});
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP;
    default:
      throw new ConfigError(`unsupported fieldRef ${fieldPath}`);
  }
}

/** The downward API's file format of a map: sorted key="value" lines (values quoted like Go's %q). */
export function formatMap(m: Record<string, string>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`)
    .join('\n');
}

interface ResourceFieldRef {
  containerName?: string;
  resource: string;
  divisor?: string;
}

/** resourceFieldRef: limits default to the node's allocatable; values rounded up by the divisor. */
export function resourceField(pod: KObject, container: KObject | undefined, ref: ResourceFieldRef, ctx: Pick<EnvContext, 'nodeAllocatable'>): string {
  const c =
    (ref.containerName ? (pod.spec.containers as KObject[]).find((x) => x.name === ref.containerName) : undefined) ??
    container;
  const [kind, res] = ref.resource.split('.', 2) as [string, string];
  if ((kind !== 'limits' && kind !== 'requests') || !res) throw new ConfigError(`unsupported resource ${ref.resource}`);
  const resources = c?.resources ?? {};
  let value: string | undefined = resources[kind]?.[res];
  if (value === undefined && kind === 'requests') value = resources.limits?.[res];
  if (value === undefined && kind === 'limits') value = (ctx.nodeAllocatable as Record<string, string | undefined>)[res];
  if (value === undefined) value = '0';
  const divisor = parseQuantity(ref.divisor ?? '1');
  if (divisor === 0) throw new ConfigError(`zero divisor in ${ref.resource}`);
  return String(Math.ceil(parseQuantity(value) / divisor - 1e-9));
}

const C_IDENT = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * The environment of a container, in the kubelet's order: envFrom sources first, then env entries,
 * each value expanded against what is defined before it (and the service variables), then the
 * service variables that were not overridden. Returns an ordered list of [name, value].
 */
export function containerEnv(pod: KObject, container: KObject, ctx: EnvContext): Array<[string, string]> {
  const env = new Map<string, string>();
  const ns = pod.metadata.namespace ?? 'default';
  for (const from of (container.envFrom ?? []) as KObject[]) {
    const prefix: string = from.prefix ?? '';
    let src: DataMap | undefined;
    if (from.configMapRef) {
      src = ctx.configMaps.get(from.configMapRef.name);
      if (!src && !from.configMapRef.optional) throw new ConfigError(`configmap "${from.configMapRef.name}" not found in ${ns}`);
    } else if (from.secretRef) {
      src = ctx.secrets.get(from.secretRef.name);
      if (!src && !from.secretRef.optional) throw new ConfigError(`secret "${from.secretRef.name}" not found in ${ns}`);
    }
    for (const [k, v] of Object.entries(src ?? {})) {
      if (C_IDENT.test(prefix + k)) env.set(prefix + k, v);
    }
  }
  const lookup = (name: string): string | undefined => env.get(name) ?? ctx.serviceEnv[name];
  for (const e of (container.env ?? []) as KObject[]) {
    const name: string = e.name;
    if (e.value !== undefined) {
      env.set(name, expand(String(e.value), lookup));
      continue;
    }
    const vf = e.valueFrom;
    if (!vf) {
      env.set(name, '');
      continue;
    }
    if (vf.fieldRef) {
      env.set(name, podField(pod, vf.fieldRef.fieldPath, ctx));
    } else if (vf.resourceFieldRef) {
      env.set(name, resourceField(pod, container, vf.resourceFieldRef, ctx));
    } else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const ref = vf.configMapKeyRef ?? vf.secretKeyRef;
      const kind = vf.configMapKeyRef ? 'configmap' : 'secret';
      const src = (vf.configMapKeyRef ? ctx.configMaps : ctx.secrets).get(ref.name);
      const value = src?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ConfigError(src ? `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}` : `${kind} "${ref.name}" not found`);
      }
      env.set(name, value);
    } else {
      throw new ConfigError(`unsupported valueFrom in env ${name}`);
    }
  }
  for (const [k, v] of Object.entries(ctx.serviceEnv)) if (!env.has(k)) env.set(k, v);
  return [...env];
}

// ---------------------------------------------------------------------------------------------
// Images: an image reference maps to a local command (the "image's" ENTRYPOINT and CMD).
// ---------------------------------------------------------------------------------------------
export interface ImageRule {
  /** Glob on the image reference: "*" matches any run of characters. */
  match: string;
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  env?: Record<string, string>;
}

export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
}

export function matchImage(rules: ImageRule[], image: string): ImageRule | undefined {
  return rules.find((r) => globToRegExp(r.match).test(image));
}

/** Replaces ${NAME} placeholders of the mapping file (REPO, E2E...) in every string of a rule. */
export function substituteRule(rule: ImageRule, vars: Record<string, string>): ImageRule {
  const sub = (s: string): string => s.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (all, n: string) => vars[n] ?? all);
  return {
    match: rule.match,
    ...(rule.entrypoint ? { entrypoint: rule.entrypoint.map(sub) } : {}),
    ...(rule.cmd ? { cmd: rule.cmd.map(sub) } : {}),
    ...(rule.workingDir ? { workingDir: sub(rule.workingDir) } : {}),
    ...(rule.env ? { env: Object.fromEntries(Object.entries(rule.env).map(([k, v]) => [k, sub(v)])) } : {}),
  };
}

/**
 * argv of a container, as a container runtime computes it: command replaces the image's
 * entrypoint (and drops its cmd), args replaces cmd; then $(VAR) expansion against the env.
 */
export function containerArgv(container: KObject, image: ImageRule | undefined, env: Array<[string, string]>): string[] {
  const entry: string[] = container.command ?? image?.entrypoint ?? [];
  const args: string[] = container.args ?? (container.command ? [] : (image?.cmd ?? []));
  const vars = new Map(env);
  const argv = [...entry, ...args].map((a) => expand(String(a), (n) => vars.get(n)));
  if (argv.length === 0) throw new ConfigError(`no command for image ${container.image}: add it to images.yaml or set command`);
  return argv;
}

// ---------------------------------------------------------------------------------------------
// DNS names the kubelet gives a pod.
// ---------------------------------------------------------------------------------------------
export function podHostname(pod: KObject): { hostname: string; fqdn?: string } {
  const hostname: string = (pod.spec?.hostname ?? pod.metadata.name).slice(0, 63);
  const sub: string | undefined = pod.spec?.subdomain;
  const ns = pod.metadata.namespace ?? 'default';
  return sub ? { hostname, fqdn: `${hostname}.${sub}.${ns}.svc.cluster.local` } : { hostname };
}

export function hostsFile(pod: KObject, podIP: string): string {
  const { hostname, fqdn } = podHostname(pod);
  const lines = [
    '# Kubernetes-managed hosts file (conclave local pod runner).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    fqdn ? `${podIP}\t${fqdn}\t${hostname}` : `${podIP}\t${hostname}`,
  ];
  for (const ha of (pod.spec?.hostAliases ?? []) as Array<{ ip: string; hostnames: string[] }>) {
    lines.push(`${ha.ip}\t${ha.hostnames.join('\t')}`);
  }
  return lines.join('\n') + '\n';
}

export function resolvConf(pod: KObject, nameserver: string): string {
  const ns = pod.metadata.namespace ?? 'default';
  return `nameserver ${nameserver}\nsearch ${ns}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:2\n`;
}
