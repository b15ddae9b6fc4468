/**
 * Names, labels, owner references and ports shared by the builders. Every object the operator owns
 * for a CoordinationCluster `c` is named after it, labelled with it, and owned by it.
 */
import type { CoordinationCluster } from '../api/types.js';

export const PORTS = { client: 2281, peer: 2882, metrics: 9281 } as const;
export const FIELD_MANAGER = 'conclave-operator';
export const CLUSTER_LABEL = 'conclave.dev/cluster';
export const MEMBER_ID_LABEL = 'conclave.dev/member-id';
export const CONFIG_HASH_ANNOTATION = 'conclave.dev/config-hash';
export const VERSION_LABEL = 'conclave.dev/version';
export const CONFIG_FILE = 'conclave.yaml';
export const CONFIG_DIR = '/etc/conclave';
export const DATA_MOUNT = '/var/lib/conclave';
export const DATA_DIR = `${DATA_MOUNT}/data`;

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] };
  [field: string]: unknown;
};

export const names = (c: CoordinationCluster) => ({
  statefulSet: c.metadata.name,
  peerService: `${c.metadata.name}-peers`,
  clientService: c.metadata.name,
  configMap: `${c.metadata.name}-config`,
  pdb: c.metadata.name,
  serviceAccount: c.metadata.name,
  monitor: c.metadata.name,
  pod: (ordinal: number) => `${c.metadata.name}-${ordinal}`,
  pvc: (ordinal: number) => `data-${c.metadata.name}-${ordinal}`,
});

/** The stable DNS name of a member's pod (through the headless Service). */
export const memberHost = (c: CoordinationCluster, ordinal: number): string =>
  `${names(c).pod(ordinal)}.${names(c).peerService}.${c.metadata.namespace}.svc`;

export const memberAddresses = (c: CoordinationCluster, id: number) => ({
  peerAddress: `${memberHost(c, id - 1)}:${PORTS.peer}`,
  clientAddress: `${memberHost(c, id - 1)}:${PORTS.client}`,
});

/** Labels that select a cluster's pods (the StatefulSet selector: never changes). */
export const selectorLabels = (c: CoordinationCluster): Record<string, string> => ({
  'app.kubernetes.io/name': 'conclave',
  'app.kubernetes.io/instance': c.metadata.name,
  [CLUSTER_LABEL]: c.metadata.name,
});

export const commonLabels = (c: CoordinationCluster): Record<string, string> => ({
  ...selectorLabels(c),
  'app.kubernetes.io/component': 'server',
  'app.kubernetes.io/managed-by': FIELD_MANAGER,
});

export const ownerReference = (c: CoordinationCluster) => ({
  apiVersion: c.apiVersion,
  kind: c.kind,
  name: c.metadata.name,
  uid: c.metadata.uid,
  controller: true,
  blockOwnerDeletion: true,
});

export const metadata = (c: CoordinationCluster, name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}) => ({
  name,
  namespace: c.metadata.namespace,
  labels: { ...commonLabels(c), ...extra.labels },
  ...(extra.annotations && Object.keys(extra.annotations).length > 0 ? { annotations: extra.annotations } : {}),
  ownerReferences: [ownerReference(c)],
});

/** FNV-1a (32 bit), hex: a short stable digest for change detection (no crypto needed, no I/O). */
export function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** JSON with sorted keys, so equal values always digest the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
