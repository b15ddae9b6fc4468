/**
 * reconcile(cluster): read the world, build the desired objects with the pure builders, apply them
 * (server-side apply, one field manager), take at most one membership or rollout step, and report
 * the result as status and conditions. It never branches on what event caused it; it returns when
 * to look again.
 */
import { withDefaults } from '../api/defaults.js';
import type { CoordinationCluster, CoordinationClusterInput, CoordinationClusterStatus } from '../api/types.js';
import { validateSpec } from '../api/validation.js';
import { desiredObjects, memberAddresses, MEMBER_ID_LABEL, CLUSTER_LABEL, PORTS } from '../builders/index.js';
import { AdminError, type AdminClients } from './admin.js';
import { describeError, type Kube } from './kube.js';
import type { OperatorMetrics } from './metrics.js';
import { observe, type ClusterObjects } from './observe.js';
import type { Observed } from './observed.js';
import { plan, type Plan, type Step } from './plan.js';
import { computeStatus, describeStep } from './status.js';
import { canonicalJson } from '../builders/common.js';

export interface ReconcileDeps {
  kube: Kube;
  admin: AdminClients;
  metrics?: OperatorMetrics;
  /** Server image repository for clusters that do not set spec.image. */
  serverImageRepository: string;
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export interface ReconcileResult {
  /** Look again after this many ms. */
  requeueAfterMs: number;
  plan?: Plan;
}

/** While something is in progress the operator looks often; when settled, a slow resync catches drift. */
const BUSY_MS = 1000;
const SETTLED_MS = 30_000;

export async function reconcile(stored: CoordinationCluster, objects: ClusterObjects, deps: ReconcileDeps): Promise<ReconcileResult> {
  if (stored.metadata.deletionTimestamp) return { requeueAfterMs: 0 }; // owned objects go with it (garbage collector)
  const c = withDefaults(stored as unknown as CoordinationClusterInput);
  const problems = validateSpec(c.spec);
  if (problems.length > 0) {
    const observed = await observe(c, objects, deps.admin);
    const p: Plan = { replicas: observed.statefulSet?.replicas ?? 1, step: { kind: 'wait', reason: 'InvalidSpec', message: problems.join('; '), degraded: true }, activity: 'Idle' };
    await writeStatus(c, computeStatus(c, observed, p, c.status, problems), deps);
    return { requeueAfterMs: SETTLED_MS, plan: p };
  }

  const observed = await observe(c, objects, deps.admin);
  const p = plan(c, observed);
  const voters = observed.raft?.members.filter((m) => m.voter).length ?? 0;
  const monitoringApi = c.spec.metrics.serviceMonitor.enabled || c.spec.metrics.prometheusRule.enabled ? await deps.kube.hasMonitoringApi() : false;
  for (const obj of desiredObjects(c, { replicas: p.replicas, founded: observed.founded, currentVoters: voters, serverImageRepository: deps.serverImageRepository, monitoringApi })) {
    await deps.kube.apply(obj);
  }

  let stepError: string | undefined;
  try {
    await execute(c, observed, p.step, deps);
  } catch (e) {
    stepError = e instanceof AdminError && e.retryable ? undefined : describeError(e);
    if (stepError) deps.log('warn', `step failed: ${describeStep(c, p)}`, { cluster: key(c), error: stepError });
  }

  await writeStatus(c, computeStatus(c, observed, p, c.status), deps);
  if (stepError) throw new Error(`${describeStep(c, p)}: ${stepError}`);
  return { requeueAfterMs: p.step.kind === 'none' ? SETTLED_MS : BUSY_MS, plan: p };
}

const key = (c: CoordinationCluster) => `${c.metadata.namespace}/${c.metadata.name}`;

async function writeStatus(c: CoordinationCluster, status: CoordinationClusterStatus, deps: ReconcileDeps): Promise<void> {
  // Conditions keep their transition times, so an unchanged cluster writes nothing.
  if (canonicalJson(status) === canonicalJson(c.status ?? {})) return;
  await deps.kube.applyStatus(c, status);
}

async function execute(c: CoordinationCluster, o: Observed, step: Step, deps: ReconcileDeps): Promise<void> {
  const leaderAddress = (): string => {
    const pod = o.pods.find((p) => p.ordinal + 1 === o.raft?.leaderId);
    if (!pod?.ip) throw new AdminError('the leader has no pod IP', 14);
    return `${pod.ip}:${PORTS.client}`;
  };
  const event = (type: 'Normal' | 'Warning', reason: string, message: string) =>
    deps.kube.event(c, type, reason, message).catch((e: unknown) => deps.log('warn', 'cannot record event', { error: describeError(e) }));
  const count = (action: string) => deps.metrics?.steps.inc({ action });
  const what = describeStep(c, { replicas: 0, step, activity: 'Idle' });

  switch (step.kind) {
    case 'none':
    case 'wait':
      return;
    case 'addMember': {
      const a = memberAddresses(c, step.id);
      await deps.admin.addMember(leaderAddress(), step.id, a.peerAddress, a.clientAddress);
      count('add');
      await event('Normal', 'MemberAdded', `${what}; it joins and catches up before it votes`);
      return;
    }
    case 'promoteMember':
      await deps.admin.promoteMember(leaderAddress(), step.id);
      count('promote');
      await event('Normal', 'MemberPromoted', what);
      return;
    case 'transferLeadership':
      await deps.admin.transferLeadership(leaderAddress(), step.to);
      count('transfer');
      await event('Normal', 'LeadershipTransferred', what);
      return;
    case 'removeMember':
      await deps.admin.removeMember(leaderAddress(), step.id);
      count('remove');
      await event('Normal', 'MemberRemoved', what);
      return;
    case 'releaseVolume':
      if (c.spec.storage.onScaleDown === 'Retain' && step.volumeName) {
        await deps.kube.retainVolume(step.volumeName, { [CLUSTER_LABEL]: c.metadata.name, [MEMBER_ID_LABEL]: String(step.ordinal + 1), 'conclave.dev/namespace': c.metadata.namespace });
      }
      await deps.kube.deletePvc(c.metadata.namespace, step.pvc);
      count('release-volume');
      await event(
        'Normal',
        'VolumeReleased',
        c.spec.storage.onScaleDown === 'Retain' && step.volumeName
          ? `claim ${step.pvc} of removed member ${step.ordinal + 1} deleted; its data is kept in PersistentVolume ${step.volumeName} (reclaim policy Retain)`
          : `claim ${step.pvc} of removed member ${step.ordinal + 1} deleted (onScaleDown: Delete); a later member starts empty`,
      );
      return;
    case 'replacePod': {
      const pod = o.pods.find((p) => p.ordinal === step.ordinal);
      if (!pod) return;
      // The uid precondition: a newer pod of the same name is never deleted by mistake.
      await deps.kube.deletePod(c.metadata.namespace, step.pod, pod.uid);
      count('replace-pod');
      await event('Normal', 'MemberRestarted', what);
      return;
    }
  }
}

