// The local pod runner: a stand-in for the kubelet (and a storage provisioner, cluster DNS and the
// API server's in-cluster address). It registers Node objects, runs the containers of the pods
// bound to them as local processes, each pod in its own network namespace (own IP), each container
// in its own mount and UTS namespace (volumes bind-mounted at their mountPath, /etc/hosts,
// /etc/resolv.conf, hostname = pod hostname), runs probes, reports pod status, restarts per
// restartPolicy, and stops pods gracefully on deletion. See README.md for the picture and limits.
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { buildDnsTable, DnsServer } from './dns.js';
import { apiPath, Informer, KubeError, type Kube, type KObject } from './kube.js';
import { PodNetwork, type Subnet } from './netns.js';
import { ServiceProxy } from './proxy.js';
import type { DataMap, ImageRule } from './podspec.js';
import { PodWorker, type PodHost } from './pod.js';

export const PROVISIONER = 'conclave.dev/local-dir';
export const API_PROXY_PORT = 443;

export interface RunnerOptions {
  kube: Kube;
  nodes: string[];
  runDir: string;
  subnet: Subnet;
  /** Service ClusterIP range of the API server; the runner proxies it (proxy.ts). */
  serviceCidr: string;
  tag: string;
  /** The API server's port on 127.0.0.1; pods reach it through <gateway>:443. */
  apiServerPort: number;
  images: ImageRule[];
  backoffInitialMs: number;
  backoffMaxMs: number;
  capacity: { cpu: string; memory: string; pods: string; 'ephemeral-storage': string };
  kubeletVersion: string;
  log: (line: string) => void;
}

const nowIso = (): string => new Date().toISOString();
const microTime = (): string => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class Runner implements PodHost {
  net!: PodNetwork;
  readonly dns = new DnsServer();
  private apiProxy: net.Server | undefined;
  private serviceProxy: ServiceProxy | undefined;
  private readonly informers: Informer[] = [];
  private pods!: Informer;
  private services!: Informer;
  private slices!: Informer;
  private readonly workers = new Map<string, PodWorker>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly provisioning = new Set<string>();
  private stopped = false;

  constructor(readonly o: RunnerOptions) {}

  get gateway(): string {
    return this.o.subnet.gateway;
  }

  async start(): Promise<void> {
    this.net = await PodNetwork.create(this.o.subnet, this.o.tag, this.o.serviceCidr);
    this.serviceProxy = new ServiceProxy(this.net.bridge, { ip: '127.0.0.1', port: this.o.apiServerPort }, this.o.log);
    await this.dns.listen(this.gateway, 53);
    this.apiProxy = net.createServer((sock) => {
      const up = net.connect(this.o.apiServerPort, '127.0.0.1');
      sock.pipe(up).pipe(sock);
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      this.apiProxy!.once('error', reject);
      this.apiProxy!.listen(API_PROXY_PORT, this.gateway, resolve);
    });

    for (const node of this.o.nodes) await this.registerNode(node);
    this.timers.push(setInterval(() => void this.renewLeases(), 10_000));
    this.timers.push(setInterval(() => void this.heartbeatNodes(), 30_000));

    this.services = this.informer('/api/v1/services');
    this.slices = this.informer('/apis/discovery.k8s.io/v1/endpointslices');
    const updateDns = (): void => {
      this.dns.table = buildDnsTable(this.services.list(), this.slices.list());
      void this.serviceProxy!.sync(this.services.list(), this.slices.list());
    };
    this.services.on('change', updateDns);
    this.slices.on('change', updateDns);

    const pvcs = this.informer('/api/v1/persistentvolumeclaims');
    const pvs = this.informer('/api/v1/persistentvolumes');
    pvcs.on('add', (c: KObject) => void this.provision(c));
    pvcs.on('update', (c: KObject) => void this.provision(c));
    pvs.on('add', (v: KObject) => void this.reclaim(v));
    pvs.on('update', (v: KObject) => void this.reclaim(v));

    this.pods = this.informer('/api/v1/pods');
    this.pods.on('add', (p: KObject) => this.onPod(p));
    this.pods.on('update', (p: KObject) => this.onPod(p));
    this.pods.on('delete', (p: KObject) => this.onPodGone(p));
    await Promise.all(this.informers.map((i) => i.start()));
    updateDns();
    await this.serviceProxy.sync(this.services.list(), this.slices.list());
    this.timers.push(setInterval(() => this.resync(), 2000));
    this.o.log(`runner up: nodes ${this.o.nodes.join(',')}, pod network ${this.o.subnet.cidr}, services ${this.o.serviceCidr}, DNS and API at ${this.gateway}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const i of this.informers) i.stop();
    await Promise.all([...this.workers.values()].map((w) => w.kill()));
    this.dns.close();
    this.apiProxy?.close();
    this.serviceProxy?.close();
    await this.net?.destroy();
  }

  private informer(path: string): Informer {
    const i = new Informer(this.o.kube, path);
    i.on('error', (e) => this.o.log(`informer ${path}: ${String(e)}`));
    this.informers.push(i);
    return i;
  }

  // -------------------------------------------------------------------- nodes
  private nodeConditions(): KObject[] {
    const t = nowIso();
    const c = (type: string, status: string, reason: string, message: string): KObject =>
      ({ type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: t }) as unknown as KObject;
    return [
      c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'local pod runner'),
      c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'local pod runner'),
      c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'local pod runner'),
      c('Ready', 'True', 'KubeletReady', 'local pod runner is posting ready status'),
    ];
  }

  private async registerNode(name: string): Promise<void> {
    const status = {
      capacity: this.o.capacity,
      allocatable: this.o.capacity,
      conditions: this.nodeConditions(),
      addresses: [
        { type: 'InternalIP', address: this.gateway },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: this.o.tag, systemUUID: name, bootID: this.o.tag, kernelVersion: '', osImage: 'conclave local pod runner',
        containerRuntimeVersion: 'local://1', kubeletVersion: this.o.kubeletVersion, kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64',
      },
    };
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': 'amd64' },
      },
      spec: {},
      status,
    };
    const existing = await this.o.kube.find(`/api/v1/nodes/${name}`);
    if (!existing) await this.o.kube.create('/api/v1/nodes', node);
    await this.o.kube.patch(`/api/v1/nodes/${name}/status`, { status }, 'strategic');
    await this.renewLease(name);
  }

  private async renewLease(node: string): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`;
    const spec = { holderIdentity: node, leaseDurationSeconds: 40, renewTime: microTime() };
    try {
      await this.o.kube.patch(path, { spec }, 'merge');
    } catch (e) {
      if (!(e instanceof KubeError && e.status === 404)) throw e;
      const owner = await this.o.kube.get(`/api/v1/nodes/${node}`);
      await this.o.kube.create('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: node, namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: owner.metadata.uid }] },
        spec,
      });
    }
  }

  private async renewLeases(): Promise<void> {
    for (const n of this.o.nodes) await this.renewLease(n).catch((e) => this.o.log(`lease ${n}: ${String(e)}`));
  }

  private async heartbeatNodes(): Promise<void> {
    for (const n of this.o.nodes) {
      await this.o.kube
        .patch(`/api/v1/nodes/${n}/status`, { status: { conditions: this.nodeConditions() } }, 'strategic')
        .catch((e) => this.o.log(`node ${n}: ${String(e)}`));
    }
  }

  // -------------------------------------------------------------------- storage
  /** Dynamic provisioning for StorageClasses whose provisioner is ours: a directory per claim. */
  private async provision(pvc: KObject): Promise<void> {
    if (this.stopped || pvc.spec?.volumeName || pvc.metadata.deletionTimestamp) return;
    const ann = pvc.metadata.annotations ?? {};
    const prov = ann['volume.kubernetes.io/storage-provisioner'] ?? ann['volume.beta.kubernetes.io/storage-provisioner'];
    if (prov !== PROVISIONER) return;
    const name = `pvc-${pvc.metadata.uid}`;
    if (this.provisioning.has(name)) return;
    this.provisioning.add(name);
    try {
      let reclaim = 'Delete';
      if (pvc.spec.storageClassName) {
        const sc = await this.o.kube.find(`/apis/storage.k8s.io/v1/storageclasses/${pvc.spec.storageClassName}`);
        reclaim = sc?.reclaimPolicy ?? 'Delete';
      }
      const dir = join(this.o.runDir, 'volumes', name);
      mkdirSync(dir, { recursive: true });
      await this.o.kube.create('/api/v1/persistentvolumes', {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
        spec: {
          capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' },
          accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: reclaim,
          storageClassName: pvc.spec.storageClassName,
          volumeMode: 'Filesystem',
          hostPath: { path: dir, type: 'DirectoryOrCreate' },
          claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid },
        },
      });
      this.o.log(`provisioned ${name} for ${pvc.metadata.namespace}/${pvc.metadata.name} at ${dir}`);
    } catch (e) {
      if (!(e instanceof KubeError && e.status === 409)) {
        this.o.log(`provision ${name}: ${String(e)}`);
        this.provisioning.delete(name);
      }
    }
  }

  /** Released volumes of ours with reclaimPolicy Delete: remove the directory and the PV. */
  private async reclaim(pv: KObject): Promise<void> {
    if (this.stopped || pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] !== PROVISIONER) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    const dir: string | undefined = pv.spec.hostPath?.path;
    if (dir?.startsWith(join(this.o.runDir, 'volumes'))) rmSync(dir, { recursive: true, force: true });
    await this.o.kube.delete(`/api/v1/persistentvolumes/${pv.metadata.name}`).catch(() => undefined);
    this.provisioning.delete(pv.metadata.name);
    this.o.log(`deleted released volume ${pv.metadata.name}`);
  }

  // -------------------------------------------------------------------- pods
  private onPod(pod: KObject): void {
    if (this.stopped || !this.o.nodes.includes(pod.spec?.nodeName)) return;
    const uid = pod.metadata.uid!;
    let w = this.workers.get(uid);
    if (!w) {
      if (pod.metadata.deletionTimestamp) {
        // Never started here: finalize at once.
        void this.o.kube.delete(apiPath('v1', 'pods', pod.metadata.namespace, pod.metadata.name), { gracePeriodSeconds: 0, preconditions: { uid } });
        return;
      }
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      w = new PodWorker(this, pod);
      this.workers.set(uid, w);
      void w.start();
      return;
    }
    w.update(pod);
  }

  private onPodGone(pod: KObject): void {
    const w = this.workers.get(pod.metadata.uid!);
    if (w) void w.kill();
  }

  /** Called by a worker when it is done with its pod. */
  forget(uid: string): void {
    this.workers.delete(uid);
  }

  private resync(): void {
    for (const w of this.workers.values()) void w.resync();
  }

  serviceEnv(): DataMap {
    const h = this.gateway;
    const p = String(API_PROXY_PORT);
    return {
      KUBERNETES_SERVICE_HOST: h,
      KUBERNETES_SERVICE_PORT: p,
      KUBERNETES_SERVICE_PORT_HTTPS: p,
      KUBERNETES_PORT: `tcp://${h}:${p}`,
      [`KUBERNETES_PORT_${p}_TCP`]: `tcp://${h}:${p}`,
      [`KUBERNETES_PORT_${p}_TCP_PROTO`]: 'tcp',
      [`KUBERNETES_PORT_${p}_TCP_PORT`]: p,
      [`KUBERNETES_PORT_${p}_TCP_ADDR`]: h,
    };
  }
}
