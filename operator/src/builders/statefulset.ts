/**
 * The members' StatefulSet. Pod `<name>-k` is member k + 1 (the server derives it from its host
 * name). The operator decides `replicas` (one member at a time, see controller/membership.ts) and
 * when each pod is replaced: the update strategy is OnDelete, so a template change (version,
 * settings) takes effect only when the operator deletes a pod, followers first, the leader last.
 * Pods are managed in parallel: a rollback or a restart never waits on an OrderedReady sequence.
 */
import type { CoordinationCluster } from '../api/types.js';
import {
  CONFIG_DIR,
  CONFIG_FILE,
  CONFIG_HASH_ANNOTATION,
  DATA_MOUNT,
  names,
  metadata,
  PORTS,
  selectorLabels,
  commonLabels,
  VERSION_LABEL,
  type KubeObject,
} from './common.js';
import { configHash } from './configmap.js';

/** Non-root user of the server image (operator/docker/server.Dockerfile). */
export const SERVER_UID = 10001;

export const serverImage = (c: CoordinationCluster, repository: string): string => c.spec.image ?? `${repository}:${c.spec.version}`;

function affinity(c: CoordinationCluster): Record<string, unknown> | undefined {
  if (c.spec.pod.affinity) return c.spec.pod.affinity;
  const term = { labelSelector: { matchLabels: selectorLabels(c) }, topologyKey: 'kubernetes.io/hostname' };
  switch (c.spec.pod.antiAffinity) {
    case 'Required':
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case 'Preferred':
      return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
    case 'None':
      return undefined;
  }
}

export function buildStatefulSet(c: CoordinationCluster, opts: { replicas: number; serverImageRepository: string }): KubeObject {
  const n = names(c);
  const spec = c.spec;
  const podLabels = { ...spec.pod.labels, ...commonLabels(c), [VERSION_LABEL]: spec.version };
  const podAnnotations = { ...spec.pod.annotations, [CONFIG_HASH_ANNOTATION]: configHash(c) };
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'metrics' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  const podAffinity = affinity(c);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: metadata(c, n.statefulSet),
    spec: {
      replicas: opts.replicas,
      serviceName: n.peerService,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      // The operator applies spec.storage.onScaleDown itself, once the member is out of the Raft
      // configuration and its pod is gone; the StatefulSet controller must not reuse or drop it.
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Retain', whenDeleted: spec.storage.onDelete },
      selector: { matchLabels: selectorLabels(c) },
      template: {
        metadata: { labels: podLabels, annotations: podAnnotations },
        spec: {
          serviceAccountName: n.serviceAccount,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: spec.pod.terminationGracePeriodSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: SERVER_UID,
            runAsGroup: SERVER_UID,
            fsGroup: SERVER_UID,
            fsGroupChangePolicy: 'OnRootMismatch',
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(podAffinity ? { affinity: podAffinity } : {}),
          ...(spec.pod.tolerations ? { tolerations: spec.pod.tolerations } : {}),
          ...(spec.pod.nodeSelector ? { nodeSelector: spec.pod.nodeSelector } : {}),
          ...(spec.pod.priorityClassName ? { priorityClassName: spec.pod.priorityClassName } : {}),
          ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
          containers: [
            {
              name: 'server',
              image: serverImage(c, opts.serverImageRepository),
              ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
              // The image's entrypoint is the server; only its arguments are set here.
              args: ['--config', `${CONFIG_DIR}/${CONFIG_FILE}`],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'CONCLAVE_ADVERTISE_HOST', value: `$(POD_NAME).${n.peerService}.${c.metadata.namespace}.svc` },
              ],
              ports: [
                { name: 'client', containerPort: PORTS.client, protocol: 'TCP' },
                { name: 'peer', containerPort: PORTS.peer, protocol: 'TCP' },
                { name: 'metrics', containerPort: PORTS.metrics, protocol: 'TCP' },
              ],
              // Ready = knows a leader and has applied what was committed (a learner too).
              readinessProbe: probe('/readyz', 2, 3),
              livenessProbe: probe('/healthz', 10, 6),
              // Replaying a long log may take a while before /healthz answers.
              startupProbe: probe('/healthz', 2, 150),
              ...(spec.resources ? { resources: spec.resources } : {}),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'data', mountPath: DATA_MOUNT },
                { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: n.configMap } }],
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', labels: selectorLabels(c) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(spec.storage.storageClassName ? { storageClassName: spec.storage.storageClassName } : {}),
            resources: { requests: { storage: String(spec.storage.size) } },
          },
        },
      ],
    },
  };
}
