/**
 * Defaults of a CoordinationCluster, in one place: the CRD schema declares them (so the API server
 * stores them and `kubectl get -o yaml` shows them) and withDefaults() applies the same values to a
 * resource that did not go through the API server (unit tests, dry runs).
 */
import { API_VERSION, KIND, type CoordinationCluster, type CoordinationClusterInput } from './types.js';

export const DEFAULTS = {
  replicas: 3,
  storage: { size: '1Gi', onScaleDown: 'Delete', onDelete: 'Delete' },
  pod: { antiAffinity: 'Preferred', terminationGracePeriodSeconds: 30 },
  service: { type: 'ClusterIP' },
  serviceMonitor: { enabled: false, interval: '30s' },
  prometheusRule: { enabled: false },
  upgrade: { memberTimeoutSeconds: 300 },
} as const;

export function withDefaults(input: CoordinationClusterInput): CoordinationCluster {
  const s = input.spec;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { namespace: 'default', uid: '', ...input.metadata },
    spec: {
      ...s,
      replicas: s.replicas ?? DEFAULTS.replicas,
      version: s.version,
      storage: { ...DEFAULTS.storage, ...s.storage },
      pod: { ...DEFAULTS.pod, ...s.pod },
      service: { ...DEFAULTS.service, ...s.service },
      metrics: {
        serviceMonitor: { ...DEFAULTS.serviceMonitor, ...s.metrics?.serviceMonitor },
        prometheusRule: { ...DEFAULTS.prometheusRule, ...s.metrics?.prometheusRule },
      },
      upgrade: { ...DEFAULTS.upgrade, ...s.upgrade },
    },
    ...(input.status ? { status: input.status } : {}),
  };
}
