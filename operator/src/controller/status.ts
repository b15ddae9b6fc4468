/**
 * The resource's status, as a pure function of what was observed and of the plan: members, leader,
 * versions, phase and the five conditions. A condition keeps its lastTransitionTime while its status
 * does not change.
 */
import { quorum } from '../api/validation.js';
import type { Condition, ConditionType, CoordinationCluster, CoordinationClusterStatus, MemberRole, MemberStatus, Phase } from '../api/types.js';
import { isHealthy, podOf, type Observed } from './observed.js';
import type { Plan } from './plan.js';

const ROLES: Record<string, MemberRole> = { LEADER: 'Leader', FOLLOWER: 'Follower', LEARNER: 'Learner' };

export function memberStatuses(c: CoordinationCluster, o: Observed): MemberStatus[] {
  const ids = new Set<number>([...(o.raft?.members.map((m) => m.id) ?? []), ...o.pods.map((p) => p.ordinal + 1)]);
  return [...ids].sort((a, b) => a - b).map((id) => {
    const member = o.raft?.members.find((m) => m.id === id);
    const report = o.raft?.reports.get(id) ?? o.reports.get(id);
    const pod = podOf(o, id - 1);
    const lag = o.raft?.lag.get(id);
    return {
      id,
      pod: `${c.metadata.name}-${id - 1}`,
      role: report ? (ROLES[report.role] ?? 'Unknown') : 'Unknown',
      voter: member?.voter ?? false,
      healthy: isHealthy(o, id),
      ...(lag !== undefined ? { lag } : {}),
      ...(pod?.version ? { version: pod.version } : {}),
    };
  });
}

function condition(type: ConditionType, ok: boolean, reason: string, message: string): Omit<Condition, 'lastTransitionTime'> {
  return { type, status: ok ? 'True' : 'False', reason, message };
}

export function computeStatus(c: CoordinationCluster, o: Observed, p: Plan, previous: CoordinationClusterStatus | undefined, problems: string[] = []): CoordinationClusterStatus {
  const members = memberStatuses(c, o);
  const voters = members.filter((m) => m.voter);
  const readyMembers = voters.filter((m) => m.healthy).length;
  const leaderId = o.raft?.leaderId ?? 0;
  const step = p.step;
  const waitMessage = step.kind === 'wait' ? step.message : '';
  const degraded = problems.length > 0 ? { reason: 'InvalidSpec', message: problems.join('; ') } : step.kind === 'wait' && step.degraded ? { reason: step.reason, message: step.message } : undefined;
  const available = leaderId !== 0 && voters.length > 0 && readyMembers >= quorum(voters.length);

  const outdatedVersion = p.rollout ? o.pods.find((pod) => pod.version !== c.spec.version)?.version : undefined;
  const runningVersions = [...new Set(o.pods.map((pod) => pod.version).filter((v): v is string => !!v))];
  const currentVersion = outdatedVersion ?? (runningVersions.length === 1 ? runningVersions[0] : previous?.currentVersion);

  const stepText = describeStep(c, p);
  const scaling = p.activity === 'Scaling' || p.activity === 'Creating';
  const upgrading = p.activity === 'Upgrading';
  const settled = p.step.kind === 'none';
  const wasCreating = previous?.phase === undefined || previous.phase === 'Creating';
  const phase: Phase = degraded
    ? 'Degraded'
    : p.activity === 'Creating' || (wasCreating && readyMembers < c.spec.replicas)
      ? 'Creating'
      : upgrading
        ? 'Upgrading'
        : scaling
          ? 'Scaling'
          : 'Running';

  const fresh = [
    condition(
      'Available',
      available,
      available ? 'QuorumHealthy' : leaderId === 0 ? 'NoLeader' : 'QuorumUnhealthy',
      available ? `leader ${c.metadata.name}-${leaderId - 1}, ${readyMembers}/${voters.length} voters healthy` : leaderId === 0 ? 'no member reports a leader' : `${readyMembers}/${voters.length} voters healthy, quorum is ${quorum(voters.length)}`,
    ),
    condition('Progressing', !settled, settled ? 'Settled' : step.kind === 'wait' ? step.reason : p.activity, settled ? `${voters.length} voters at version ${c.spec.version}` : stepText),
    condition('Degraded', !!degraded, degraded?.reason ?? 'AsExpected', degraded?.message ?? 'all members healthy'),
    condition(
      'Scaling',
      scaling,
      scaling ? (step.kind === 'wait' ? step.reason : step.kind.charAt(0).toUpperCase() + step.kind.slice(1)) : 'Settled',
      scaling ? `${voters.length} -> ${c.spec.replicas} voters: ${stepText}` : `${voters.length} voters`,
    ),
    condition(
      'Upgrading',
      upgrading,
      upgrading ? 'RollingUpdate' : 'Settled',
      upgrading && p.rollout
        ? `${p.rollout.updated}/${p.rollout.total} members at the new template (version ${c.spec.version})${p.rollout.next ? `; next: ${p.rollout.next}` : ''}${waitMessage ? `; ${waitMessage}` : ''}`
        : `members run version ${currentVersion ?? c.spec.version}`,
    ),
  ];
  const conditions: Condition[] = fresh.map((cond) => {
    const before = previous?.conditions?.find((x) => x.type === cond.type);
    const lastTransitionTime = before && before.status === cond.status ? before.lastTransitionTime : new Date(o.now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { ...cond, lastTransitionTime, observedGeneration: c.metadata.generation ?? 0 };
  });

  return {
    observedGeneration: c.metadata.generation ?? 0,
    phase,
    ready: `${readyMembers}/${c.spec.replicas}`,
    readyMembers,
    ...(leaderId ? { leader: `${c.metadata.name}-${leaderId - 1}`, leaderId } : {}),
    ...(currentVersion ? { currentVersion } : {}),
    targetVersion: c.spec.version,
    ...(o.raft?.clusterId ? { clusterId: o.raft.clusterId } : previous?.clusterId ? { clusterId: previous.clusterId } : {}),
    members,
    conditions,
  };
}

/** One line for humans: what the operator is doing now. */
export function describeStep(c: CoordinationCluster, p: Plan): string {
  const m = (id: number) => `member ${id} (${c.metadata.name}-${id - 1})`;
  const s = p.step;
  switch (s.kind) {
    case 'none':
      return 'nothing to do';
    case 'wait':
      return s.message;
    case 'addMember':
      return `adding ${m(s.id)} as a learner`;
    case 'promoteMember':
      return `promoting ${m(s.id)} to voter`;
    case 'transferLeadership':
      return `moving leadership from ${m(s.from)} to ${m(s.to)}: ${s.reason}`;
    case 'removeMember':
      return `removing ${m(s.id)} from the Raft configuration`;
    case 'releaseVolume':
      return `applying the onScaleDown policy (${c.spec.storage.onScaleDown}) to ${s.pvc}`;
    case 'replacePod':
      return `replacing pod ${s.pod}: ${s.reason}`;
  }
}
