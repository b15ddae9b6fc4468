/**
 * The control loop: informers on CoordinationClusters and the objects the operator owns feed a
 * de-duplicated work queue with namespace/name keys; workers run reconcile(key) from the caches.
 * Events only enqueue a key; what happens depends on the state reconcile reads, never on the event.
 */
import {
  makeInformer,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1ConfigMap,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type CoordinationCluster } from '../api/types.js';
import { CLUSTER_LABEL, names } from '../builders/common.js';
import type { AdminClients } from './admin.js';
import { describeError, type Kube } from './kube.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { reconcile, type ReconcileDeps } from './reconcile.js';

type Cached<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface ControllerOptions {
  kube: Kube;
  admin: AdminClients;
  metrics: OperatorMetrics;
  serverImageRepository: string;
  workers: number;
  log: ReconcileDeps['log'];
}

export class Controller {
  readonly queue = new WorkQueue();
  private readonly clusters: Cached<CoordinationCluster & KubernetesObject>;
  private readonly statefulSets: Cached<V1StatefulSet>;
  private readonly pods: Cached<V1Pod>;
  private readonly volumes: Cached<V1PersistentVolumeClaim>;
  private readonly configMaps: Cached<V1ConfigMap>;
  private readonly informers: Array<Cached<KubernetesObject>>;
  private synced = false;
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(private readonly options: ControllerOptions) {
    const { kube } = options;
    const owned = CLUSTER_LABEL; // every owned object (and every claim of the StatefulSet) carries it
    this.clusters = makeInformer(kube.config, `/apis/${GROUP}/${VERSION}/${PLURAL}`, () =>
      kube.custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, plural: PLURAL }) as Promise<KubernetesListObject<CoordinationCluster & KubernetesObject>>,
    );
    this.statefulSets = makeInformer(kube.config, '/apis/apps/v1/statefulsets', () => kube.apps.listStatefulSetForAllNamespaces({ labelSelector: owned }), owned);
    this.pods = makeInformer(kube.config, '/api/v1/pods', () => kube.core.listPodForAllNamespaces({ labelSelector: owned }), owned);
    this.volumes = makeInformer(kube.config, '/api/v1/persistentvolumeclaims', () => kube.core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: owned }), owned);
    this.configMaps = makeInformer(kube.config, '/api/v1/configmaps', () => kube.core.listConfigMapForAllNamespaces({ labelSelector: owned }), owned);
    this.informers = [this.clusters, this.statefulSets, this.pods, this.volumes, this.configMaps] as Array<Cached<KubernetesObject>>;

    const enqueueCluster = (o: KubernetesObject) => this.queue.add(`${o.metadata?.namespace}/${o.metadata?.name}`);
    const enqueueOwner = (o: KubernetesObject) => {
      const cluster = o.metadata?.labels?.[CLUSTER_LABEL];
      if (cluster) this.queue.add(`${o.metadata?.namespace}/${cluster}`);
    };
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.clusters.on(verb, enqueueCluster);
      for (const informer of this.informers.slice(1)) informer.on(verb, enqueueOwner);
    }
    for (const informer of this.informers) {
      // A watch that fails is restarted (list + watch again) after a pause.
      informer.on('error', (e?: unknown) => {
        if (this.stopped) return;
        options.log('warn', 'watch failed; restarting it', { error: describeError(e) });
        setTimeout(() => void informer.start().catch(() => undefined), 3000).unref();
      });
    }
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Lists and watches everything, then starts the workers. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    this.synced = true;
    for (const c of this.clusters.list()) this.queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
    for (let i = 0; i < this.options.workers; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.close();
    await Promise.all(this.informers.map((i) => i.stop()));
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    const { metrics, log } = this.options;
    for (;;) {
      const key = await this.queue.next();
      if (key === undefined) return;
      metrics.queueDepth.set(this.queue.length);
      const [namespace, name] = key.split('/') as [string, string];
      const started = performance.now();
      try {
        const cluster = this.clusters.get(name, namespace);
        metrics.clusters.set(this.clusters.list().length);
        if (!cluster) {
          this.queue.forget(key);
          continue;
        }
        const n = names(cluster);
        const ownedBy = (o: KubernetesObject) => o.metadata?.labels?.[CLUSTER_LABEL] === name;
        const result = await reconcile(
          cluster,
          {
            ...(this.statefulSets.get(n.statefulSet, namespace) ? { statefulSet: this.statefulSets.get(n.statefulSet, namespace)! } : {}),
            pods: this.pods.list(namespace).filter(ownedBy),
            volumes: this.volumes.list(namespace).filter(ownedBy),
            ...(this.configMaps.get(n.configMap, namespace) ? { configMap: this.configMaps.get(n.configMap, namespace)! } : {}),
          },
          { kube: this.options.kube, admin: this.options.admin, metrics, serverImageRepository: this.options.serverImageRepository, log },
        );
        metrics.reconciles.inc({ result: 'ok' });
        this.queue.forget(key);
        if (result.requeueAfterMs > 0) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (e) {
        metrics.reconciles.inc({ result: 'error' });
        const delay = this.queue.retry(key);
        log('warn', 'reconcile failed', { cluster: key, error: describeError(e), retryInMs: delay });
      } finally {
        metrics.reconcileSeconds.observe((performance.now() - started) / 1000);
        this.queue.done(key);
      }
    }
  }
}
