/**
 * Builds the Observed value for one reconcile: the cluster's objects from the informer caches, and
 * each member's own report over the admin API. "Caught up" is measured, not guessed: a member has
 * caught up when it has applied everything the leader had committed when this reconcile asked.
 */
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { CoordinationCluster } from '../api/types.js';
import { CONFIG_FILE, memberAddresses, names, PORTS, VERSION_LABEL } from '../builders/common.js';
import { FOUNDER_ID } from '../builders/configmap.js';
import type { AdminClients } from './admin.js';
import type { MemberReport, Observed, ObservedPod, ObservedRaft, ObservedVolume } from './observed.js';

/** How long a member may take to apply what the leader had committed and still count as caught up. */
const CATCH_UP_WAIT_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ClusterObjects {
  statefulSet?: V1StatefulSet;
  pods: V1Pod[];
  volumes: V1PersistentVolumeClaim[];
  configMap?: V1ConfigMap;
}

/** The Raft cluster id the server derives from its token and founders (server/src/config.ts clusterIdOf). */
export function expectedClusterId(c: CoordinationCluster): string {
  const founder = memberAddresses(c, FOUNDER_ID);
  return createHash('sha256').update(`${c.metadata.uid}|${FOUNDER_ID}=${founder.peerAddress}`).digest('hex').slice(0, 16);
}

const ordinalOf = (prefix: string, name: string): number | undefined => {
  const m = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`).exec(name);
  return m ? Number(m[1]) : undefined;
};

export function observePod(pod: V1Pod, ordinal: number): ObservedPod {
  const server = pod.status?.containerStatuses?.find((s) => s.name === 'server');
  const waiting = server?.state?.waiting?.reason;
  const last = server?.lastState?.terminated;
  const ready = pod.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
  const unmet = pod.status?.conditions?.find((x) => x.status === 'False' && x.message)?.message;
  const problem = waiting
    ? `${waiting}${last ? ` (last exit ${last.exitCode}${last.reason ? `, ${last.reason}` : ''})` : ''}`
    : !ready && pod.status?.phase === 'Pending'
      ? `Pending${unmet ? `: ${unmet}` : ''}`
      : undefined;
  return {
    ordinal,
    name: pod.metadata!.name!,
    uid: pod.metadata!.uid!,
    ready,
    terminating: !!pod.metadata?.deletionTimestamp,
    ...(pod.metadata?.labels?.['controller-revision-hash'] ? { revision: pod.metadata.labels['controller-revision-hash'] } : {}),
    ...(pod.metadata?.labels?.[VERSION_LABEL] ? { version: pod.metadata.labels[VERSION_LABEL] } : {}),
    ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}),
    createdAt: pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : 0,
    crashLooping: waiting === 'CrashLoopBackOff' || (server?.restartCount ?? 0) >= 3,
    ...(problem ? { problem } : {}),
  };
}

function wasFounded(c: CoordinationCluster, configMap: V1ConfigMap | undefined): boolean {
  if (c.status?.clusterId) return true;
  const file = configMap?.data?.[CONFIG_FILE];
  if (!file) return false;
  try {
    return (parseYaml(file) as { join?: boolean } | null)?.join === true;
  } catch {
    return false;
  }
}

export async function observe(c: CoordinationCluster, objects: ClusterObjects, admin: AdminClients, now = Date.now()): Promise<Observed> {
  const n = names(c);
  const pods = objects.pods
    .map((p) => ({ p, ordinal: ordinalOf(n.statefulSet, p.metadata?.name ?? '') }))
    .filter((x): x is { p: V1Pod; ordinal: number } => x.ordinal !== undefined)
    .map(({ p, ordinal }) => observePod(p, ordinal))
    .sort((a, b) => a.ordinal - b.ordinal);
  const volumes: ObservedVolume[] = objects.volumes
    .map((v) => ({ v, ordinal: ordinalOf(`data-${n.statefulSet}`, v.metadata?.name ?? '') }))
    .filter((x): x is { v: V1PersistentVolumeClaim; ordinal: number } => x.ordinal !== undefined)
    .map(({ v, ordinal }) => ({
      ordinal,
      name: v.metadata!.name!,
      terminating: !!v.metadata?.deletionTimestamp,
      ...(v.spec?.volumeName ? { volumeName: v.spec.volumeName } : {}),
    }));
  const sts = objects.statefulSet;
  const expected = expectedClusterId(c);

  const reports = new Map<number, MemberReport>();
  const addressOf = new Map<number, string>();
  await Promise.all(
    pods
      .filter((p) => p.ip)
      .map(async (p) => {
        const address = `${p.ip}:${PORTS.client}`;
        try {
          const s = await admin.status(address);
          if (s.memberId !== p.ordinal + 1) return;
          addressOf.set(s.memberId, address);
          reports.set(s.memberId, {
            id: s.memberId,
            role: s.role as MemberReport['role'],
            leaderId: s.leaderId,
            clusterId: s.clusterId,
            appliedIndex: s.appliedIndex,
            commitIndex: s.commitIndex,
            version: s.version,
            caughtUp: false,
          });
        } catch {
          // Not answering: the member counts as unhealthy.
        }
      }),
  );

  const leaderReport = [...reports.values()].filter((r) => r.role === 'LEADER' && r.clusterId === expected).sort((a, b) => b.commitIndex - a.commitIndex)[0];
  let raft: ObservedRaft | undefined;
  if (leaderReport) {
    const leaderAddress = addressOf.get(leaderReport.id)!;
    try {
      const [leaderStatus, members] = await Promise.all([admin.status(leaderAddress), admin.members(leaderAddress)]);
      // Under a steady write load every member, the leader too, is always a few entries behind
      // the newest commit: what counts is reaching the commit index seen now, within a moment.
      const committed = leaderStatus.commitIndex;
      await Promise.all(
        [...reports.values()].map(async (r) => {
          const deadline = Date.now() + CATCH_UP_WAIT_MS;
          let applied = r.appliedIndex;
          while (applied < committed && Date.now() < deadline) {
            await sleep(100);
            try {
              applied = (await admin.status(addressOf.get(r.id)!)).appliedIndex;
            } catch {
              break;
            }
          }
          r.caughtUp = applied >= committed;
        }),
      );
      raft = {
        clusterId: members.clusterId,
        leaderId: leaderReport.id,
        members: members.members.map((m) => ({ id: m.id, voter: m.voter })),
        removedIds: members.removedIds,
        lag: new Map(leaderStatus.progress.map((p) => [p.id, p.lag])),
        reports,
      };
    } catch {
      raft = undefined;
    }
  }

  const founded = wasFounded(c, objects.configMap) || [...reports.values()].some((r) => r.clusterId === expected && r.leaderId !== 0);
  return {
    now,
    ...(sts
      ? {
          statefulSet: {
            replicas: sts.spec?.replicas ?? 0,
            ...(sts.status?.updateRevision ? { updateRevision: sts.status.updateRevision } : {}),
            upToDate: (sts.status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0),
          },
        }
      : {}),
    pods,
    volumes,
    founded,
    expectedClusterId: expected,
    ...(raft ? { raft } : {}),
    reports,
  };
}
