/**
 * Desired state of a CoordinationCluster: every object the operator owns, as a pure function of the
 * resource and of the few facts the controller observed (the StatefulSet size the membership steps
 * call for, whether the cluster was founded, how many voters it has now).
 */
import type { CoordinationCluster } from '../api/types.js';
import type { KubeObject } from './common.js';
import { buildConfigMap } from './configmap.js';
import { buildServiceMonitor, buildPrometheusRule } from './monitoring.js';
import { buildPodDisruptionBudget, buildServiceAccount } from './policy.js';
import { buildClientService, buildPeerService } from './services.js';
import { buildStatefulSet } from './statefulset.js';

export interface DesiredContext {
  /** StatefulSet replicas, decided by the membership steps. */
  replicas: number;
  /** The cluster was founded: new members join it (never found another). */
  founded: boolean;
  /** Voters in the Raft configuration now (0: unknown). */
  currentVoters: number;
  /** Server image repository when spec.image is unset, e.g. conclave/server. */
  serverImageRepository: string;
  /** The monitoring.coreos.com API is installed. */
  monitoringApi: boolean;
}

export function desiredObjects(c: CoordinationCluster, ctx: DesiredContext): KubeObject[] {
  const objects = [
    buildServiceAccount(c),
    buildConfigMap(c, ctx.founded),
    buildPeerService(c),
    buildClientService(c),
    buildStatefulSet(c, { replicas: ctx.replicas, serverImageRepository: ctx.serverImageRepository }),
    buildPodDisruptionBudget(c, ctx.currentVoters),
  ];
  if (ctx.monitoringApi && c.spec.metrics.serviceMonitor.enabled) objects.push(buildServiceMonitor(c));
  if (ctx.monitoringApi && c.spec.metrics.prometheusRule.enabled) objects.push(buildPrometheusRule(c));
  return objects;
}

export * from './common.js';
export { buildConfigMap, configHash, initialCluster, FOUNDER_ID } from './configmap.js';
export { buildServiceMonitor, buildPrometheusRule, alertRules } from './monitoring.js';
export { buildPodDisruptionBudget, buildServiceAccount } from './policy.js';
export { buildClientService, buildPeerService } from './services.js';
export { buildStatefulSet, serverImage } from './statefulset.js';
