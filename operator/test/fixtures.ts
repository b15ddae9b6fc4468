// Test fixtures: a CoordinationCluster and Observed values for the pure planners and builders.
import { withDefaults } from '../src/api/defaults.js';
import type { CoordinationCluster, CoordinationClusterInput } from '../src/api/types.js';
import type { MemberReport, Observed, ObservedPod } from '../src/controller/observed.js';

export const NOW = Date.parse('2026-01-01T00:00:00Z');

export function cluster(spec: Partial<CoordinationClusterInput['spec']> = {}, generation = 1): CoordinationCluster {
  return withDefaults({ metadata: { name: 'zk', namespace: 'apps', uid: 'uid-1', generation }, spec: { version: '1.0.0', ...spec } });
}

export function pod(ordinal: number, extra: Partial<ObservedPod> = {}): ObservedPod {
  return { ordinal, name: `zk-${ordinal}`, uid: `pod-${ordinal}`, ready: true, terminating: false, revision: 'rev-1', version: '1.0.0', ip: `10.0.0.${ordinal + 2}`, createdAt: NOW - 600_000, crashLooping: false, ...extra };
}

export function report(id: number, extra: Partial<MemberReport> = {}): MemberReport {
  return { id, role: id === 1 ? 'LEADER' : 'FOLLOWER', leaderId: 1, clusterId: 'cid', appliedIndex: 100, commitIndex: 100, version: '1.0.0', caughtUp: true, ...extra };
}

/**
 * A healthy cluster whose Raft configuration is `voters` (and `learners`), with one pod per
 * member (StatefulSet replicas = the highest id), member `leader` leading.
 */
export function observed(opts: { voters: number[]; learners?: number[]; leader?: number; replicas?: number; revision?: string; pods?: ObservedPod[] } ): Observed {
  const learners = opts.learners ?? [];
  const leader = opts.leader ?? 1;
  const ids = [...opts.voters, ...learners];
  const replicas = opts.replicas ?? Math.max(...ids);
  const pods = opts.pods ?? Array.from({ length: replicas }, (_, k) => pod(k));
  const reports = new Map(ids.filter((id) => pods.some((p) => p.ordinal === id - 1)).map((id) => [id, report(id, { leaderId: leader, role: id === leader ? 'LEADER' : learners.includes(id) ? 'LEARNER' : 'FOLLOWER' })]));
  return {
    now: NOW,
    statefulSet: { replicas, updateRevision: opts.revision ?? 'rev-1', upToDate: true },
    pods,
    volumes: pods.map((p) => ({ ordinal: p.ordinal, name: `data-zk-${p.ordinal}`, volumeName: `pv-${p.ordinal}`, terminating: false })),
    founded: true,
    expectedClusterId: 'cid',
    raft: {
      clusterId: 'cid',
      leaderId: leader,
      members: [...opts.voters.map((id) => ({ id, voter: true })), ...learners.map((id) => ({ id, voter: false }))],
      removedIds: [],
      lag: new Map(ids.map((id) => [id, 0])),
      reports,
    },
    reports,
  };
}
