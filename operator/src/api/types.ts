/**
 * The CoordinationCluster resource (conclave.dev/v1alpha1) as TypeScript types. The OpenAPI schema
 * the API server enforces is in crd.ts; these types describe the same fields.
 */

export const GROUP = 'conclave.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'CoordinationCluster';
export const PLURAL = 'coordinationclusters';

export type VolumePolicy = 'Delete' | 'Retain';
export type AntiAffinity = 'Preferred' | 'Required' | 'None';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

/** Server settings the operator passes through to every member's config file (server/src/config.ts). */
export interface ServerSettings {
  tickMs?: number;
  raftTickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  minSessionTimeoutMs?: number;
  maxSessionTimeoutMs?: number;
  snapshotCount?: number;
  snapshotCatchUpEntries?: number;
  snapshotLogBytes?: number;
  logMemoryBytes?: number;
  maxDataBytes?: number;
  maxPathBytes?: number;
  maxMultiOps?: number;
  requestTimeoutMs?: number;
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
}

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface CoordinationClusterSpec {
  /** Voting members: 1, 3, 5, 7 or 9. */
  replicas: number;
  /** Server version; the image tag unless `image` is set. */
  version: string;
  /** Full image reference, overriding the operator's server image repository + version. */
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  imagePullSecrets?: Array<{ name: string }>;
  resources?: ResourceRequirements;
  storage: {
    size: string;
    storageClassName?: string;
    /** What happens to a removed member's volume: deleted, or kept as a released PersistentVolume. */
    onScaleDown: VolumePolicy;
    /** What happens to the volumes when the CoordinationCluster is deleted. */
    onDelete: VolumePolicy;
  };
  config?: ServerSettings;
  pod: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    /** Spread members over nodes (kubernetes.io/hostname); ignored when `affinity` is set. */
    antiAffinity: AntiAffinity;
    affinity?: Record<string, unknown>;
    tolerations?: Array<Record<string, unknown>>;
    nodeSelector?: Record<string, string>;
    priorityClassName?: string;
    terminationGracePeriodSeconds: number;
  };
  service: {
    type: ServiceType;
    annotations?: Record<string, string>;
  };
  metrics: {
    serviceMonitor: { enabled: boolean; interval: string; labels?: Record<string, string> };
    prometheusRule: { enabled: boolean; labels?: Record<string, string> };
  };
  upgrade: {
    /** A restarted member that is not a healthy, caught-up voter after this long fails the rollout. */
    memberTimeoutSeconds: number;
  };
}

export type MemberRole = 'Leader' | 'Follower' | 'Learner' | 'Unknown';

export interface MemberStatus {
  id: number;
  pod: string;
  role: MemberRole;
  /** A voter (false: a learner, or not in the Raft configuration yet). */
  voter: boolean;
  healthy: boolean;
  /** Log entries this member has not applied yet, as the leader sees it. */
  lag?: number;
  version?: string;
}

export type ConditionType = 'Available' | 'Progressing' | 'Degraded' | 'Scaling' | 'Upgrading';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type Phase = 'Creating' | 'Running' | 'Scaling' | 'Upgrading' | 'Degraded';

export interface CoordinationClusterStatus {
  observedGeneration?: number;
  phase?: Phase;
  /** "ready/desired", for the Ready printer column. */
  ready?: string;
  readyMembers?: number;
  /** The leader's pod name. */
  leader?: string;
  leaderId?: number;
  currentVersion?: string;
  targetVersion?: string;
  /** The Raft cluster id the members report. */
  clusterId?: string;
  members?: MemberStatus[];
  conditions?: Condition[];
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A CoordinationCluster as stored: the API server has applied the schema's defaults. */
export interface CoordinationCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: CoordinationClusterSpec;
  status?: CoordinationClusterStatus;
}

/** What a user writes: everything with a default may be left out. */
export interface CoordinationClusterInput {
  apiVersion?: string;
  kind?: string;
  metadata: Partial<ObjectMeta> & { name: string };
  spec: Partial<Omit<CoordinationClusterSpec, 'storage' | 'pod' | 'service' | 'metrics' | 'upgrade'>> & {
    version: string;
    storage?: Partial<CoordinationClusterSpec['storage']>;
    pod?: Partial<CoordinationClusterSpec['pod']>;
    service?: Partial<CoordinationClusterSpec['service']>;
    metrics?: {
      serviceMonitor?: Partial<CoordinationClusterSpec['metrics']['serviceMonitor']>;
      prometheusRule?: Partial<CoordinationClusterSpec['metrics']['prometheusRule']>;
    };
    upgrade?: Partial<CoordinationClusterSpec['upgrade']>;
  };
  status?: CoordinationClusterStatus;
}
