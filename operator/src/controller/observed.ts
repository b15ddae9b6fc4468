/**
 * What one reconcile observes of a cluster: its Kubernetes objects (from the informer caches) and
 * what the members themselves report over the Cluster admin API. The planners (plan.ts) and the
 * status (status.ts) are pure functions of this value; observe.ts builds it.
 */

export interface ObservedPod {
  ordinal: number;
  name: string;
  uid: string;
  ready: boolean;
  terminating: boolean;
  /** StatefulSet revision of its template (controller-revision-hash label). */
  revision?: string;
  version?: string;
  ip?: string;
  /** ms since the epoch */
  createdAt: number;
  /** Why the server container is not running or not ready, if we can tell (CrashLoopBackOff: exit 1). */
  problem?: string;
  crashLooping: boolean;
}

export interface ObservedVolume {
  ordinal: number;
  name: string;
  volumeName?: string;
  terminating: boolean;
}

export interface ObservedStatefulSet {
  replicas: number;
  updateRevision?: string;
  /** The StatefulSet controller has seen the latest template (status.observedGeneration). */
  upToDate: boolean;
}

/** One member's own report (Cluster.Status). */
export interface MemberReport {
  id: number;
  role: 'LEADER' | 'FOLLOWER' | 'LEARNER' | 'CANDIDATE' | 'PRE_CANDIDATE';
  leaderId: number;
  clusterId: string;
  appliedIndex: number;
  commitIndex: number;
  version: string;
  /** Applied everything the leader had committed when this reconcile looked (zero lag). */
  caughtUp: boolean;
}

export interface RaftMember {
  id: number;
  voter: boolean;
}

/** The cluster as its leader reports it; undefined when no member answered with a known leader. */
export interface ObservedRaft {
  clusterId: string;
  leaderId: number;
  members: RaftMember[];
  removedIds: number[];
  /** Per member: entries behind the leader's log, from the leader's progress. */
  lag: Map<number, number>;
  reports: Map<number, MemberReport>;
}

export interface Observed {
  /** ms since the epoch */
  now: number;
  statefulSet?: ObservedStatefulSet;
  pods: ObservedPod[];
  volumes: ObservedVolume[];
  /** The cluster was founded (it answered once, or its config says members join). */
  founded: boolean;
  /** The cluster id the members must report (derived from the resource, like the server does). */
  expectedClusterId: string;
  raft?: ObservedRaft;
  /** Members that answered, even without a leader (for status when there is no quorum). */
  reports: Map<number, MemberReport>;
}

export const podOf = (o: Observed, ordinal: number): ObservedPod | undefined => o.pods.find((p) => p.ordinal === ordinal);

/** A member serves: its pod is ready, it answers for our cluster, knows the leader and has caught up. */
export function isHealthy(o: Observed, id: number): boolean {
  const pod = podOf(o, id - 1);
  const report = o.raft?.reports.get(id) ?? o.reports.get(id);
  return !!pod && pod.ready && !pod.terminating && !!report && report.clusterId === o.expectedClusterId && report.leaderId !== 0 && report.caughtUp;
}
