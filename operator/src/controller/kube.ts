/**
 * The operator's access to the Kubernetes API (@kubernetes/client-node): server-side apply with one
 * field manager, the status subresource, the few deletes and patches the steps need, Events, and
 * discovery of optional APIs. Everything else reads the informer caches (informers.ts).
 */
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type CoordinationCluster, type CoordinationClusterStatus } from '../api/types.js';
import { FIELD_MANAGER, type KubeObject } from '../builders/common.js';

export const isNotFound = (e: unknown): boolean => e instanceof ApiException && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiException && e.code === 409;

/** A short description of an API error (status code and the server's message). */
export function describeError(e: unknown): string {
  if (e instanceof ApiException) {
    const body = typeof e.body === 'string' ? safeJson(e.body) : e.body;
    const message = (body as { message?: string } | undefined)?.message;
    return `HTTP ${e.code}: ${message ?? e.message}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

export class Kube {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;
  private readonly objects: KubernetesObjectApi;
  private monitoring: { known: boolean; at: number } = { known: false, at: 0 };

  constructor(readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(config);
  }

  /** KUBECONFIG or ~/.kube/config when present, else the in-cluster service account. */
  static fromEnvironment(): Kube {
    const config = new KubeConfig();
    config.loadFromDefault();
    return new Kube(config);
  }

  /** A kubeconfig file (tests, tools). */
  static fromFile(path: string): Kube {
    const config = new KubeConfig();
    config.loadFromFile(path);
    return new Kube(config);
  }

  /** Server-side apply: the operator owns exactly the fields it sets. */
  async apply(obj: KubeObject): Promise<KubernetesObject> {
    return this.objects.patch(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }

  async applyStatus(c: CoordinationCluster, status: CoordinationClusterStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: c.metadata.namespace,
        name: c.metadata.name,
        body: { apiVersion: c.apiVersion, kind: c.kind, metadata: { name: c.metadata.name, namespace: c.metadata.namespace }, status },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  /** Deletes a pod, only if it is still the one we looked at (uid precondition). */
  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ namespace, name, body: { preconditions: { uid } } });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }

  async deletePvc(namespace: string, name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPersistentVolumeClaim({ namespace, name });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Keeps a volume's data after its claim is deleted, labelled with where it came from. */
  async retainVolume(volumeName: string, labels: Record<string, string>): Promise<void> {
    await this.objects.patch(
      { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: volumeName, labels }, spec: { persistentVolumeReclaimPolicy: 'Retain' } } as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  async event(c: CoordinationCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    await this.core.createNamespacedEvent({
      namespace: c.metadata.namespace,
      body: {
        metadata: { generateName: `${c.metadata.name}.`, namespace: c.metadata.namespace },
        involvedObject: { apiVersion: c.apiVersion, kind: c.kind, name: c.metadata.name, namespace: c.metadata.namespace, uid: c.metadata.uid },
        type,
        reason,
        message: message.slice(0, 1024),
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        source: { component: FIELD_MANAGER },
        reportingComponent: `${GROUP}/operator`,
        reportingInstance: process.env.POD_NAME ?? 'conclave-operator',
      },
    });
  }

  /** Whether the Prometheus Operator's API is installed (looked up at most once a minute). */
  async hasMonitoringApi(now = Date.now()): Promise<boolean> {
    if (now - this.monitoring.at < 60_000) return this.monitoring.known;
    let known = false;
    try {
      const list = await this.objects.list('monitoring.coreos.com/v1', 'ServiceMonitor', undefined, undefined, undefined, undefined, undefined, undefined, 1);
      known = Array.isArray(list.items);
    } catch {
      known = false;
    }
    this.monitoring = { known, at: now };
    return known;
  }
}
