#!/usr/bin/env node
/**
 * conclave-operator: runs the controller for CoordinationClusters. Configuration (environment):
 *   CONCLAVE_SERVER_IMAGE      server image repository for clusters without spec.image (conclave/server)
 *   METRICS_PORT               /metrics, /healthz, /readyz (8080)
 *   LEADER_ELECTION_NAMESPACE  namespace of the leader Lease (the pod's namespace, else default)
 *   LEASE_NAME                 name of the Lease (conclave-operator)
 *   LEASE_DURATION_SECONDS     a silent leader is replaced after this long (15)
 *   WORKERS                    clusters reconciled in parallel (2)
 *   POD_NAME                   identity in the Lease and in Events (the host name otherwise)
 * Kubernetes access: KUBECONFIG or ~/.kube/config when present, else the in-cluster service account.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { AdminClients } from './controller/admin.js';
import { Controller } from './controller/controller.js';
import { Kube } from './controller/kube.js';
import { LeaderElector } from './controller/leader-election.js';
import { OperatorMetrics, serveMetrics } from './controller/metrics.js';

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

const env = (name: string, fallback: string): string => process.env[name] || fallback;
const leaseNamespace = env('LEADER_ELECTION_NAMESPACE', existsSync(SA_NAMESPACE) ? readFileSync(SA_NAMESPACE, 'utf8').trim() : 'default');
const identity = env('POD_NAME', `${os.hostname()}-${process.pid}`);
const leaseMs = Number(env('LEASE_DURATION_SECONDS', '15')) * 1000;

const kube = Kube.fromEnvironment();
const metrics = new OperatorMetrics();
const admin = new AdminClients();
const controller = new Controller({
  kube,
  admin,
  metrics,
  serverImageRepository: env('CONCLAVE_SERVER_IMAGE', 'conclave/server'),
  workers: Number(env('WORKERS', '2')),
  log,
});
const elector = new LeaderElector(kube, { namespace: leaseNamespace, name: env('LEASE_NAME', 'conclave-operator'), identity, leaseMs, renewMs: Math.max(1000, leaseMs / 3), log });
const server = await serveMetrics(Number(env('METRICS_PORT', '8080')), metrics, {
  healthy: () => true,
  // A standby is ready too: it is waiting for the lease, as it should.
  ready: () => !elector.isLeader || controller.isSynced,
});

let stopping = false;
async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('info', 'stopping', { signal });
  await controller.stop().catch(() => undefined);
  await elector.release();
  metrics.leader.set(0);
  admin.close();
  server.close();
  process.exit(code);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

log('info', 'starting', { identity, lease: `${leaseNamespace}/${env('LEASE_NAME', 'conclave-operator')}` });
await elector.acquire(() => void shutdown('lost lease', 1));
metrics.leader.set(1);
await controller.start();
log('info', 'controller running');
