/**
 * Optional Prometheus Operator objects: a ServiceMonitor scraping every member's /metrics through
 * the headless Service, and a PrometheusRule with the alerts for a coordination service (no leader,
 * a lagging member, slow fsync, a member down, frequent elections). Metric names: server/src/metrics.ts.
 */
import type { CoordinationCluster } from '../api/types.js';
import { metadata, names, selectorLabels, type KubeObject } from './common.js';

export function buildServiceMonitor(c: CoordinationCluster): KubeObject {
  const sm = c.spec.metrics.serviceMonitor;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: metadata(c, names(c).monitor, { labels: sm.labels ?? {} }),
    spec: {
      selector: { matchLabels: { ...selectorLabels(c), 'conclave.dev/service': 'peers' } },
      namespaceSelector: { matchNames: [c.metadata.namespace] },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: sm.interval }],
    },
  };
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'critical' | 'warning' };
  annotations: { summary: string; description: string };
}

/** The alert rules for one cluster (its pods are selected by the ServiceMonitor's job: the peer Service). */
export function alertRules(c: CoordinationCluster): AlertRule[] {
  const sel = `namespace="${c.metadata.namespace}", service="${names(c).peerService}"`;
  return [
    {
      alert: 'ConclaveNoLeader',
      expr: `max(conclave_is_leader{${sel}}) < 1 or absent(conclave_is_leader{${sel}})`,
      for: '1m',
      labels: { severity: 'critical' },
      annotations: {
        summary: `Conclave cluster ${c.metadata.namespace}/${c.metadata.name} has no leader`,
        description: 'No member has been the Raft leader for 1 minute: writes and new sessions fail. Check that a majority of members is running and can reach each other.',
      },
    },
    {
      alert: 'ConclaveMemberLagging',
      expr: `max(conclave_commit_index{${sel}}) - on() group_right() conclave_commit_index{${sel}} > 1000`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Conclave member {{ $labels.pod }} is more than 1000 entries behind',
        description: 'The member has not caught up with the leader for 5 minutes: check its disk, CPU and network (conclave_peer_round_trip_seconds).',
      },
    },
    {
      alert: 'ConclaveSlowFsync',
      expr: `histogram_quantile(0.99, sum by (pod, le) (rate(conclave_wal_fsync_duration_seconds_bucket{${sel}}[5m]))) > 0.1`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Conclave member {{ $labels.pod }}: 99th percentile WAL fsync above 100 ms',
        description: 'Every write waits for an fsync on a majority: a slow disk slows the whole cluster and can cause elections. Move the volume to faster storage.',
      },
    },
    {
      alert: 'ConclaveMemberDown',
      expr: `up{${sel}} == 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Conclave member {{ $labels.pod }} is down',
        description: 'Its metrics endpoint has not answered for 5 minutes; the cluster tolerates fewer failures until it is back.',
      },
    },
    {
      alert: 'ConclaveFrequentElections',
      expr: `max(increase(conclave_leader_changes_total{${sel}}[15m])) > 3`,
      for: '0m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `Conclave cluster ${c.metadata.namespace}/${c.metadata.name}: more than 3 leader changes in 15 minutes`,
        description: 'Leaders are being lost: look for slow fsync, CPU starvation or network trouble between members.',
      },
    },
  ];
}

export function buildPrometheusRule(c: CoordinationCluster): KubeObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: metadata(c, names(c).monitor, { labels: c.spec.metrics.prometheusRule.labels ?? {} }),
    spec: { groups: [{ name: `conclave.${c.metadata.namespace}.${c.metadata.name}`, rules: alertRules(c) }] },
  };
}
