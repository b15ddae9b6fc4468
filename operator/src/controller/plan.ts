/**
 * The next step for a cluster, as a pure function of the resource and of what was observed. One
 * step per reconcile; the controller carries it out and looks again. Because the plan is computed
 * from what the cluster and the API server report, never from memory, an interrupted scale or
 * rollout resumes where it stopped, whoever runs the operator.
 *
 * Membership (one member at a time, quorum never at risk):
 *   up:   AddMember(id) as a learner -> StatefulSet grows to include its pod -> caught up -> promote
 *   down: leadership moved off it -> RemoveMember(id) -> StatefulSet shrinks -> volume policy
 * A member's id is its pod ordinal + 1; members are added lowest id first and removed highest first,
 * so the StatefulSet always covers exactly the members. A volume left from an earlier member is
 * released before its ordinal is used again: stale data never rejoins.
 *
 * Rollout (version or settings changed; StatefulSet updateStrategy OnDelete): only when membership
 * is settled; followers first, one at a time, each replacement gated on every member being a
 * healthy caught-up voter; the leader last, after a leadership transfer.
 */
import type { CoordinationCluster } from '../api/types.js';
import { isHealthy, podOf, type Observed, type ObservedPod } from './observed.js';

export type Step =
  | { kind: 'none' }
  | { kind: 'wait'; reason: string; message: string; degraded?: boolean }
  | { kind: 'addMember'; id: number }
  | { kind: 'promoteMember'; id: number }
  | { kind: 'transferLeadership'; from: number; to: number; reason: string }
  | { kind: 'removeMember'; id: number }
  | { kind: 'releaseVolume'; ordinal: number; pvc: string; volumeName?: string }
  | { kind: 'replacePod'; ordinal: number; pod: string; reason: string };

export type Activity = 'Creating' | 'Scaling' | 'Upgrading' | 'Idle';

export interface Plan {
  /** StatefulSet replicas to apply now. */
  replicas: number;
  step: Step;
  activity: Activity;
  /** Set while pods are at an older revision than the StatefulSet's template. */
  rollout?: { updated: number; total: number; next?: string };
}

const memberName = (c: CoordinationCluster, id: number) => `member ${id} (${c.metadata.name}-${id - 1})`;

export function plan(c: CoordinationCluster, o: Observed): Plan {
  const desired = c.spec.replicas;
  const current = o.statefulSet?.replicas;
  if (!o.founded) {
    // Member 1 founds the cluster alone; the others are added as learners once it answers.
    return { replicas: 1, step: { kind: 'wait', reason: 'Founding', message: 'waiting for member 1 to found the cluster' }, activity: 'Creating' };
  }
  const raft = o.raft;
  // Without a StatefulSet (deleted by hand), the volumes still tell which members existed.
  const keep = current ?? Math.max(1, ...o.volumes.map((v) => v.ordinal + 1));
  if (!raft) {
    return {
      replicas: keep,
      step: { kind: 'wait', reason: 'NoLeader', message: 'no member reports a leader: a majority of members is not running or cannot reach each other', degraded: true },
      activity: 'Idle',
    };
  }
  if (raft.clusterId !== o.expectedClusterId) {
    return {
      replicas: keep,
      step: { kind: 'wait', reason: 'ClusterMismatch', message: `members report cluster ${raft.clusterId}, expected ${o.expectedClusterId}: no membership change is made`, degraded: true },
      activity: 'Idle',
    };
  }
  const ids = raft.members.map((m) => m.id);
  const maxId = Math.max(0, ...ids);
  const voters = raft.members.filter((m) => m.voter).map((m) => m.id).sort((a, b) => a - b);
  const learners = raft.members.filter((m) => !m.voter).map((m) => m.id).sort((a, b) => a - b);
  const activity: Activity = 'Scaling';

  // A learner: promote it once caught up (ours to grow into), or drop it (beyond the desired size).
  for (const id of learners) {
    if (id > desired) return { replicas: Math.max(keep, maxId), step: { kind: 'removeMember', id }, activity };
    const replicas = Math.max(keep, id);
    if (!isHealthy(o, id)) {
      return { replicas, step: { kind: 'wait', reason: 'CatchingUp', message: `${memberName(c, id)} joins as a learner and is catching up` }, activity };
    }
    return { replicas, step: { kind: 'promoteMember', id }, activity };
  }

  // Voters beyond the desired size: the highest first, never the leader.
  const extra = voters.filter((id) => id > desired).reverse();
  if (extra.length > 0) {
    const id = extra[0]!;
    if (id === raft.leaderId) {
      const to = bestTransferee(o, voters.filter((v) => v <= desired));
      if (to === undefined) return { replicas: keep, step: { kind: 'wait', reason: 'NoTransferee', message: `${memberName(c, id)} leads and no other member is healthy enough to take over`, degraded: true }, activity };
      return { replicas: keep, step: { kind: 'transferLeadership', from: id, to, reason: `${memberName(c, id)} is being removed` }, activity };
    }
    return { replicas: keep, step: { kind: 'removeMember', id }, activity };
  }

  // The StatefulSet covers exactly the members: pods of removed members go.
  const replicas = Math.max(1, maxId);
  const leftover = o.pods.filter((p) => p.ordinal >= replicas).map((p) => p.name);
  if (keep > replicas || leftover.length > 0) {
    return { replicas, step: { kind: 'wait', reason: 'Shrinking', message: `removing the pods of removed members${leftover.length > 0 ? `: ${leftover.join(', ')}` : ''}` }, activity };
  }

  // Volumes of ordinals outside the StatefulSet (their pods are gone): the onScaleDown policy.
  const outside = o.volumes.filter((v) => v.ordinal >= replicas && !ids.includes(v.ordinal + 1));
  const stale = outside.find((v) => !v.terminating);
  if (stale) return { replicas, step: { kind: 'releaseVolume', ordinal: stale.ordinal, pvc: stale.name, ...(stale.volumeName ? { volumeName: stale.volumeName } : {}) }, activity };
  if (outside.length > 0) return { replicas, step: { kind: 'wait', reason: 'ReleasingVolume', message: `waiting for ${outside.map((v) => v.name).join(', ')} to go` }, activity };

  if (voters.length < desired) {
    let next = 1;
    while (ids.includes(next)) next++;
    if (next <= maxId) {
      return {
        replicas,
        step: {
          kind: 'wait',
          reason: 'MemberMissing',
          message: `${memberName(c, next)} is missing from the Raft configuration, below members that are in it: the operator adds members above the highest one only; scale down past it, or delete its pod and claim and add it by hand`,
          degraded: true,
        },
        activity,
      };
    }
    return { replicas, step: { kind: 'addMember', id: next }, activity };
  }

  return planRollout(c, o, replicas);
}

/** The most caught-up healthy voter among `candidates`. */
function bestTransferee(o: Observed, candidates: number[]): number | undefined {
  const healthy = candidates.filter((id) => id !== o.raft?.leaderId && isHealthy(o, id));
  healthy.sort((a, b) => (o.raft?.lag.get(a) ?? Infinity) - (o.raft?.lag.get(b) ?? Infinity) || a - b);
  return healthy[0];
}

function planRollout(c: CoordinationCluster, o: Observed, replicas: number): Plan {
  const sts = o.statefulSet;
  const raft = o.raft!;
  const settled: Plan = { replicas, step: { kind: 'none' }, activity: 'Idle' };
  if (!sts || !sts.upToDate || !sts.updateRevision) {
    return { ...settled, step: { kind: 'wait', reason: 'StatefulSetPending', message: 'waiting for the StatefulSet controller to see the template' } };
  }
  const pods = o.pods.filter((p) => p.ordinal < replicas);
  const isOutdated = (p: ObservedPod) => p.revision !== sts.updateRevision;
  const outdated = pods.filter(isOutdated);
  const total = replicas;
  const updated = pods.filter((p) => !isOutdated(p)).length;
  if (outdated.length === 0 && pods.length === replicas) {
    const sick = pods.find((p) => !isHealthy(o, p.ordinal + 1));
    return sick ? { ...settled, step: waitForMember(c, o, sick, 'MemberUnhealthy') } : settled;
  }
  const rollout = { updated, total };
  const upgrading = { ...settled, activity: 'Upgrading' as const, rollout };

  // An outdated member that is not serving anyway is replaced first: it adds no risk, and it is how
  // a rollback gets past a member that failed at the new version.
  // Only a member that failed (crash loop, or unhealthy past the timeout), never one that is merely
  // behind for a moment or restarting: that one is waited for, below.
  const failed = (p: ObservedPod) => p.crashLooping || (!p.ready && (o.now - p.createdAt) / 1000 > c.spec.upgrade.memberTimeoutSeconds);
  const broken = outdated.find((p) => p.ordinal + 1 !== raft.leaderId && !p.terminating && !isHealthy(o, p.ordinal + 1) && failed(p));
  if (broken) return { ...upgrading, rollout: { ...rollout, next: broken.name }, step: { kind: 'replacePod', ordinal: broken.ordinal, pod: broken.name, reason: 'it is outdated and not serving' } };

  // Every other step waits for all members to be healthy caught-up voters.
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const id = ordinal + 1;
    const pod = podOf(o, ordinal);
    if (pod && isHealthy(o, id) && raft.members.some((m) => m.id === id && m.voter)) continue;
    if (!pod || pod.terminating) return { ...upgrading, step: { kind: 'wait', reason: 'Restarting', message: `waiting for ${memberName(c, id)} to restart` } };
    return { ...upgrading, step: waitForMember(c, o, pod, 'MemberFailed') };
  }

  const followers = outdated.filter((p) => p.ordinal + 1 !== raft.leaderId).sort((a, b) => b.ordinal - a.ordinal);
  if (followers.length > 0) {
    const p = followers[0]!;
    return { ...upgrading, rollout: { ...rollout, next: p.name }, step: { kind: 'replacePod', ordinal: p.ordinal, pod: p.name, reason: 'rolling to the new template, followers first' } };
  }
  // Only the leader is left: hand leadership to an updated member, then replace it as a follower.
  const leader = raft.leaderId;
  const to = bestTransferee(o, pods.filter((p) => !isOutdated(p)).map((p) => p.ordinal + 1));
  if (to === undefined) return { ...upgrading, step: { kind: 'wait', reason: 'NoTransferee', message: 'no updated member can take over leadership yet' } };
  return { ...upgrading, rollout: { ...rollout, next: `${c.metadata.name}-${leader - 1}` }, step: { kind: 'transferLeadership', from: leader, to, reason: 'the leader is replaced last' } };
}

/**
 * Waiting for a member that is not a healthy caught-up voter: normal while its pod is young, a
 * failure (Degraded, naming the member) once it crash-loops or stays unhealthy past the timeout.
 */
function waitForMember(c: CoordinationCluster, o: Observed, pod: ObservedPod, failedReason: string): Step {
  const id = pod.ordinal + 1;
  const ageSeconds = (o.now - pod.createdAt) / 1000;
  if (pod.crashLooping || ageSeconds > c.spec.upgrade.memberTimeoutSeconds) {
    const why = pod.problem ?? `not a healthy caught-up voter after ${Math.round(ageSeconds)} s`;
    const what = failedReason === 'MemberFailed' ? `rollout stopped: ${memberName(c, id)} at version ${pod.version ?? '?'}` : memberName(c, id);
    const hint = failedReason === 'MemberFailed' ? '; fix it or change spec.version back' : '';
    return { kind: 'wait', reason: failedReason, message: `${what}: ${why}${hint}`, degraded: true };
  }
  return { kind: 'wait', reason: 'WaitingForMember', message: `waiting for ${memberName(c, id)} to be a healthy caught-up voter` };
}
