/**
 * The CustomResourceDefinition of CoordinationCluster: OpenAPI schema with defaults, CEL rules (odd
 * replicas, immutable storage), status subresource and printer columns. This object is the source
 * of the chart's crds/ file and of manifests/ (`npm run -w @conclave/operator generate`); a unit
 * test fails when they differ.
 */
import { DEFAULTS } from './defaults.js';
import { GROUP, KIND, PLURAL, VERSION } from './types.js';

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });
const bool = (description: string, extra: Schema = {}): Schema => ({ type: 'boolean', description, ...extra });
const stringMap = (description: string): Schema => ({ type: 'object', description, additionalProperties: { type: 'string' } });
/** A Kubernetes core type (affinity, toleration...): validated by the API server when the pod is created. */
const kubeObject = (description: string): Schema => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
const obj = (description: string, properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: 'object', description, properties, ...extra });

export const REPLICAS_MESSAGE =
  'replicas must be odd (1, 3, 5, 7 or 9): a Raft cluster commits with a majority, so an even count tolerates no more failures than the odd count below it and only slows every write';

const quantity = (description: string, extra: Schema = {}): Schema => ({
  description,
  'x-kubernetes-int-or-string': true,
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  ...extra,
});

const serverSettings = obj(
  'Server settings written to every member\'s config file; unset ones keep the server defaults. A change restarts the members one at a time, the leader last.',
  {
    tickMs: int("ZooKeeper's tickTime: the unit of session timeouts, ms", { minimum: 100, maximum: 60000 }),
    raftTickMs: int('Raft tick, ms', { minimum: 10, maximum: 10000 }),
    electionTicks: int('Raft ticks without a leader before an election', { minimum: 2, maximum: 1000 }),
    heartbeatTicks: int('Raft ticks between leader heartbeats', { minimum: 1, maximum: 100 }),
    minSessionTimeoutMs: int('lowest session timeout granted, ms', { minimum: 1 }),
    maxSessionTimeoutMs: int('highest session timeout granted, ms', { minimum: 1 }),
    snapshotCount: int('applied entries between snapshots, at most (each member snapshots after a random share of it, half or more, so that members do not all write snapshots at once)', { minimum: 100 }),
    snapshotCatchUpEntries: int('entries kept behind a snapshot for slow followers', { minimum: 0 }),
    snapshotLogBytes: int('log bytes since the last snapshot that call for a new one before snapshotCount entries', { minimum: 1048576 }),
    logMemoryBytes: int('applied log entries kept in memory for followers that fall behind (bytes); a follower further behind gets a snapshot', { minimum: 1048576 }),
    maxDataBytes: int('largest znode data, bytes', { minimum: 1, maximum: 16777216 }),
    maxPathBytes: int('longest path, bytes', { minimum: 1 }),
    maxMultiOps: int('most operations in one multi', { minimum: 1 }),
    requestTimeoutMs: int('time a write may take before it fails with TIMEOUT, ms', { minimum: 100 }),
    logLevel: str('server log level', { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] }),
  },
  {
    'x-kubernetes-validations': [
      {
        rule: '!has(self.minSessionTimeoutMs) || !has(self.maxSessionTimeoutMs) || self.minSessionTimeoutMs <= self.maxSessionTimeoutMs',
        message: 'minSessionTimeoutMs must not exceed maxSessionTimeoutMs',
      },
      {
        rule: '!has(self.electionTicks) || self.electionTicks > (has(self.heartbeatTicks) ? self.heartbeatTicks : 1)',
        message: 'electionTicks must exceed heartbeatTicks, or followers start elections between heartbeats',
      },
    ],
  },
);

const specSchema = obj(
  'Desired state of a Conclave cluster.',
  {
    replicas: int('Voting members: 1, 3, 5, 7 or 9. The operator adds or removes one member at a time.', {
      default: DEFAULTS.replicas,
      minimum: 1,
      maximum: 9,
      'x-kubernetes-validations': [{ rule: 'self % 2 == 1', message: REPLICAS_MESSAGE, reason: 'FieldValueInvalid' }],
    }),
    version: str('Server version: the image tag (unless image is set). Changing it rolls the members one at a time, the leader last; changing it back rolls back.', {
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$',
    }),
    image: str('Full server image reference; overrides the operator\'s server image repository and version.', { minLength: 1, maxLength: 512 }),
    imagePullPolicy: str('Pull policy of the server image', { enum: ['Always', 'IfNotPresent', 'Never'] }),
    imagePullSecrets: {
      type: 'array',
      description: 'Secrets for pulling the server image',
      maxItems: 16,
      items: obj('A secret in this namespace', { name: str('Secret name', { maxLength: 253 }) }, { required: ['name'] }),
    },
    resources: obj('Compute resources of each member', {
      requests: { type: 'object', additionalProperties: quantity('amount') },
      limits: { type: 'object', additionalProperties: quantity('amount') },
    }),
    storage: obj(
      'Each member\'s persistent volume',
      {
        size: quantity('Volume size (immutable)', { default: DEFAULTS.storage.size }),
        storageClassName: str('Storage class (immutable; unset: the cluster default)', { maxLength: 253 }),
        onScaleDown: str('A removed member\'s volume: Delete it, or Retain it as a released PersistentVolume. Either way a later member never reuses it.', {
          enum: ['Delete', 'Retain'],
          default: DEFAULTS.storage.onScaleDown,
        }),
        onDelete: str('The volumes when the CoordinationCluster is deleted: Delete or Retain the claims', {
          enum: ['Delete', 'Retain'],
          default: DEFAULTS.storage.onDelete,
        }),
      },
      {
        default: { ...DEFAULTS.storage },
        'x-kubernetes-validations': [
          { rule: 'self.size == oldSelf.size', message: 'storage.size is immutable: the members\' volumes were created with the old size' },
          {
            rule: 'has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)',
            message: 'storage.storageClassName is immutable: the members\' volumes were created in the old class',
          },
        ],
      },
    ),
    config: serverSettings,
    pod: obj(
      'Pod overrides',
      {
        labels: stringMap('Extra labels on member pods'),
        annotations: stringMap('Extra annotations on member pods'),
        antiAffinity: str('Spread members over nodes: Preferred (default), Required, or None; ignored when affinity is set', {
          enum: ['Preferred', 'Required', 'None'],
          default: DEFAULTS.pod.antiAffinity,
        }),
        affinity: kubeObject('Pod affinity (core/v1 Affinity), replacing the default anti-affinity'),
        tolerations: { type: 'array', description: 'Pod tolerations (core/v1 Toleration)', maxItems: 32, items: kubeObject('A toleration') },
        nodeSelector: stringMap('Node selector'),
        priorityClassName: str('Priority class of member pods', { maxLength: 253 }),
        terminationGracePeriodSeconds: int('Time a member has to hand over leadership and stop', {
          minimum: 1,
          maximum: 600,
          default: DEFAULTS.pod.terminationGracePeriodSeconds,
        }),
      },
      { default: {} },
    ),
    service: obj(
      'The client Service',
      {
        type: str('Service type', { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'], default: DEFAULTS.service.type }),
        annotations: stringMap('Annotations of the client Service'),
      },
      { default: {} },
    ),
    metrics: obj(
      'Prometheus Operator objects (need the monitoring.coreos.com CRDs)',
      {
        serviceMonitor: obj(
          'A ServiceMonitor scraping every member',
          {
            enabled: bool('Create it', { default: DEFAULTS.serviceMonitor.enabled }),
            interval: str('Scrape interval', { default: DEFAULTS.serviceMonitor.interval, pattern: '^[0-9]+(ms|s|m|h)$' }),
            labels: stringMap('Labels, for the Prometheus serviceMonitorSelector'),
          },
          { default: {} },
        ),
        prometheusRule: obj(
          'Alert rules: no leader, a lagging member, slow fsync, member down, frequent elections',
          {
            enabled: bool('Create it', { default: DEFAULTS.prometheusRule.enabled }),
            labels: stringMap('Labels, for the Prometheus ruleSelector'),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    upgrade: obj(
      'Rolling upgrades and restarts',
      {
        memberTimeoutSeconds: int('A restarted member that is not a healthy caught-up voter after this long stops the rollout (Degraded)', {
          minimum: 10,
          maximum: 86400,
          default: DEFAULTS.upgrade.memberTimeoutSeconds,
        }),
      },
      { default: {} },
    ),
  },
  { required: ['version'] },
);

const conditionSchema = obj('A condition', {
  type: str('Available, Progressing, Degraded, Scaling or Upgrading'),
  status: str('True, False or Unknown', { enum: ['True', 'False', 'Unknown'] }),
  reason: str('Machine-readable reason'),
  message: str('Human-readable detail'),
  lastTransitionTime: str('When status last changed', { format: 'date-time' }),
  observedGeneration: int('Generation the condition was computed for', { format: 'int64' }),
}, { required: ['type', 'status', 'lastTransitionTime'] });

const statusSchema = obj('Observed state, written by the operator', {
  observedGeneration: int('The spec generation this status reflects', { format: 'int64' }),
  phase: str('Creating, Running, Scaling, Upgrading or Degraded'),
  ready: str('Healthy voters / desired voters'),
  readyMembers: int('Healthy voters'),
  leader: str('Pod of the leader'),
  leaderId: int('Member id of the leader'),
  currentVersion: str('Version every member runs (during a rollout: the version being replaced)'),
  targetVersion: str('Version of spec.version'),
  clusterId: str('Raft cluster id reported by the members'),
  members: {
    type: 'array',
    description: 'Members, by id',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['id'],
    items: obj('A member', {
      id: int('Member id (pod ordinal + 1)'),
      pod: str('Pod name'),
      role: str('Leader, Follower, Learner or Unknown'),
      voter: bool('A voter (false: a learner or not in the configuration)'),
      healthy: bool('Ready and caught up'),
      lag: int('Entries not applied yet, as the leader sees it', { format: 'int64' }),
      version: str('Version the pod runs'),
    }, { required: ['id'] }),
  },
  conditions: {
    type: 'array',
    description: 'Available, Progressing, Degraded, Scaling, Upgrading',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
    items: conditionSchema,
  },
});

export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'conclave-operator', 'app.kubernetes.io/part-of': 'conclave' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { plural: PLURAL, singular: 'coordinationcluster', kind: KIND, listKind: `${KIND}List`, shortNames: ['ccl'], categories: ['conclave'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.ready', description: 'Healthy voters / desired' },
            { name: 'Leader', type: 'string', jsonPath: '.status.leader', description: 'Pod of the Raft leader' },
            { name: 'Version', type: 'string', jsonPath: '.status.currentVersion', description: 'Version the members run' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: obj('A Conclave coordination cluster, run and kept healthy by the Conclave operator.', {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: specSchema,
              status: statusSchema,
            }, { required: ['spec'] }),
          },
        },
      ],
    },
  };
}
