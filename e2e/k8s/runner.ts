// The local pod runner: a stand-in for the kubelet (and a storage provisioner, cluster DNS and the
// API server's in-cluster address). It registers Node objects, runs the containers of the pods
// bound to them as local processes, each pod in its own network namespace (own IP), each container
// in its own mount and UTS namespace (volumes bind-mounted at their mountPath, /etc/hosts,
// /etc/resolv.conf, hostname = pod hostname), runs probes, reports pod status, restarts per
// restartPolicy, and stops pods gracefully on deletion. See README.md for the picture and limits.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { buildDnsTable, DnsServer } from './dns.js';
import { apiPath, Informer, KubeError, type Kube, type KObject } from './kube.js';
import { PodNetwork, type Subnet } from './netns.js';
import { ServiceProxy } from './proxy.js';
import { ConfigError, containerArgv, containerEnv, hostsFile, matchImage, podHostname, resolvConf, type DataMap, type EnvContext, type ImageRule } from './podspec.js';
import { probeAction, ProbeTracker, runCommand, runProbe, type ProbeKind, type ProbeTarget } from './probes.js';
import { backoffDelay, podStatus, shouldRestart, type ContainerState, type ContainerView } from './status.js';
import { atomicWrite, downwardPayload, keyedPayload, objectData, payloadHash, type Payload } from './volumes.js';

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
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SIGNUM: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11 };

/**
 * Runs inside the container's new mount+UTS namespaces (and the pod's network namespace):
 * sets the hostname, bind-mounts each "src dst ro|rw" triple, then execs the command in workingDir.
 */
const LAUNCH = `set -e
printf %s "$1" > /proc/sys/kernel/hostname
wd="$2"; shift 2
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then /bin/mkdir -p "$2"; elif [ ! -e "$2" ]; then /bin/mkdir -p "$(dirname "$2")"; : > "$2"; fi
  /bin/mount --bind "$1" "$2"
  if [ "$3" = ro ]; then /bin/mount -o remount,bind,ro "$2"; fi
  shift 3
done
shift
/bin/mkdir -p "$wd"
cd "$wd"
exec "$@"`;

export class Runner {
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

// ============================================================================ one pod
type Stage = 'sandbox' | 'volumes' | 'init' | 'main' | 'terminating' | 'gone';

class Container implements ContainerView {
  state: ContainerState = { kind: 'waiting', reason: 'ContainerCreating' };
  lastState?: ContainerState;
  ready = false;
  started = false;
  restartCount = 0;
  proc: ChildProcess | undefined;
  env: Array<[string, string]> = [];
  probes = new Map<ProbeKind, ProbeTracker>();
  timers: NodeJS.Timeout[] = [];
  startedMs = 0;
  exited: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: KObject,
    readonly isInit: boolean,
  ) {}
  get name(): string {
    return this.spec.name;
  }
  get image(): string {
    return this.spec.image;
  }
  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}

class PodWorker {
  private stage: Stage = 'sandbox';
  private readonly uid: string;
  private readonly dir: string;
  private readonly logDir: string;
  private podIP: string | undefined;
  private netns: string | undefined;
  private readonly init: Container[];
  private readonly main: Container[];
  private initIndex = 0;
  private readonly startTime = nowIso();
  private readonly volumePaths = new Map<string, string>();
  private readonly volumeHashes = new Map<string, string>();
  private readonly tokens = new Map<string, { token: string; refreshAt: number }>();
  private lastStatus = '';
  private flushTimer: NodeJS.Timeout | undefined;
  private failure: { reason: string; message: string } | undefined;
  private busy = false;

  constructor(
    private readonly r: Runner,
    private pod: KObject,
  ) {
    this.uid = pod.metadata.uid!;
    this.dir = join(r.o.runDir, 'pods', this.uid);
    this.logDir = join(r.o.runDir, 'logs', pod.metadata.namespace!, pod.metadata.name);
    this.init = ((pod.spec.initContainers ?? []) as KObject[]).map((c) => new Container(c, true));
    this.main = ((pod.spec.containers ?? []) as KObject[]).map((c) => new Container(c, false));
    for (const c of this.init) c.state = { kind: 'waiting', reason: 'PodInitializing' };
  }

  /** True once the pod is being stopped (its stage changes under awaits, hence a method). */
  private finishing(): boolean {
    return this.stage === 'terminating' || this.stage === 'gone';
  }

  private get ns(): string {
    return this.pod.metadata.namespace!;
  }
  private get name(): string {
    return this.pod.metadata.name;
  }
  private log(msg: string): void {
    this.r.o.log(`${this.ns}/${this.name}: ${msg}`);
  }

  update(pod: KObject): void {
    this.pod = pod;
    if (pod.metadata.deletionTimestamp && this.stage !== 'terminating' && this.stage !== 'gone') {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
      void this.terminate(grace);
    }
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
    await this.advance();
  }

  /** Periodic: retry a blocked stage, refresh configMap/secret/token volumes. */
  async resync(): Promise<void> {
    if (this.finishing() || this.failure) return;
    if (this.stage === 'sandbox' || this.stage === 'volumes') return this.advance();
    try {
      await this.prepareVolumes();
    } catch (e) {
      this.log(`volume refresh: ${String(e)}`);
    }
    for (const c of [...this.init, ...this.main]) {
      if (c.state.kind === 'waiting' && c.state.reason === 'CreateContainerConfigError') void this.startContainer(c);
    }
  }

  /** Moves through sandbox -> volumes -> init containers -> main containers. */
  private async advance(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.stage === 'sandbox') {
        if (this.pod.spec.hostNetwork) {
          this.podIP = this.r.gateway;
        } else {
          this.podIP = this.r.net.allocate();
          this.netns = await this.r.net.addPod(this.podIP);
        }
        const etc = join(this.dir, 'etc');
        mkdirSync(etc, { recursive: true });
        writeFileSync(join(etc, 'hosts'), hostsFile(this.pod, this.podIP));
        writeFileSync(join(etc, 'resolv.conf'), resolvConf(this.pod, this.r.gateway));
        writeFileSync(join(etc, 'hostname'), podHostname(this.pod).hostname + '\n');
        this.stage = 'volumes';
        this.flush();
      }
      if (this.stage === 'volumes') {
        try {
          await this.prepareVolumes();
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          for (const c of [...this.init, ...this.main]) c.state = { kind: 'waiting', reason: c.isInit ? 'PodInitializing' : 'ContainerCreating', message: `MountVolume: ${msg}` };
          this.flush();
          if (!(e instanceof ConfigError || e instanceof KubeError)) throw e;
          return;
        }
        this.stage = this.init.length ? 'init' : 'main';
        if (this.stage === 'init') void this.startContainer(this.init[0]!);
        else for (const c of this.main) void this.startContainer(c);
      }
    } catch (e) {
      this.failure = { reason: 'RunnerError', message: String(e) };
      this.log(`cannot start: ${String(e)}`);
      this.flush();
    } finally {
      this.busy = false;
    }
  }

  // ------------------------------------------------------------------ volumes
  private async fetchData(kind: 'configMap' | 'secret', name: string): Promise<Map<string, Buffer> | undefined> {
    const obj = await this.r.o.kube.find(apiPath('v1', kind === 'configMap' ? 'configmaps' : 'secrets', this.ns, name));
    return obj ? objectData(obj, kind) : undefined;
  }

  private async token(source: { audience?: string; expirationSeconds?: number }): Promise<string> {
    const key = `${source.audience ?? ''}/${source.expirationSeconds ?? 3600}`;
    const cached = this.tokens.get(key);
    if (cached && Date.now() < cached.refreshAt) return cached.token;
    const sa = this.pod.spec.serviceAccountName ?? 'default';
    const res = await this.r.o.kube.create(apiPath('v1', 'serviceaccounts', this.ns, `${sa}/token`), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: source.audience ? [source.audience] : [],
        expirationSeconds: source.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: this.name, uid: this.uid },
      },
    });
    const token: string = res.status.token;
    const expires = Date.parse(res.status.expirationTimestamp);
    this.tokens.set(key, { token, refreshAt: Date.now() + 0.8 * (expires - Date.now()) });
    return token;
  }

  private envContext(): Pick<EnvContext, 'podIP' | 'hostIP' | 'nodeAllocatable'> {
    return { podIP: this.podIP ?? '', hostIP: this.r.gateway, nodeAllocatable: this.r.o.capacity };
  }

  /** Computes every volume's host directory; (re)writes the ones whose content changed. */
  private async prepareVolumes(): Promise<void> {
    for (const v of (this.pod.spec.volumes ?? []) as KObject[]) {
      const name: string = v.name;
      let payload: Payload | undefined;
      let path = join(this.dir, 'volumes', name);
      if (v.persistentVolumeClaim) {
        const pvc = await this.r.o.kube.get(apiPath('v1', 'persistentvolumeclaims', this.ns, v.persistentVolumeClaim.claimName));
        if (!pvc.spec.volumeName || pvc.status?.phase !== 'Bound') throw new ConfigError(`persistentvolumeclaim ${pvc.metadata.name} is not bound`);
        const pv = await this.r.o.kube.get(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
        path = pv.spec.hostPath?.path ?? pv.spec.local?.path;
        if (!path) throw new ConfigError(`persistentvolume ${pv.metadata.name} has no hostPath/local path`);
        mkdirSync(path, { recursive: true });
      } else if (v.emptyDir) {
        mkdirSync(path, { recursive: true });
      } else if (v.hostPath) {
        path = v.hostPath.path;
        if (v.hostPath.type === 'DirectoryOrCreate') mkdirSync(path, { recursive: true });
      } else if (v.configMap || v.secret) {
        const kind = v.configMap ? 'configMap' : 'secret';
        const src = v.configMap ?? v.secret;
        const objName: string = v.configMap ? src.name : src.secretName;
        payload = keyedPayload(src, await this.fetchData(kind, objName), src.defaultMode ?? 0o644, `${kind} ${this.ns}/${objName}`);
      } else if (v.downwardAPI) {
        payload = downwardPayload(this.pod, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644, this.envContext());
      } else if (v.projected) {
        const mode: number = v.projected.defaultMode ?? 0o644;
        payload = new Map();
        for (const s of (v.projected.sources ?? []) as KObject[]) {
          let part: Payload = new Map();
          if (s.serviceAccountToken) {
            part.set(s.serviceAccountToken.path, { data: Buffer.from(await this.token(s.serviceAccountToken)), mode: s.serviceAccountToken.mode ?? mode });
          } else if (s.configMap) {
            part = keyedPayload(s.configMap, await this.fetchData('configMap', s.configMap.name), mode, `configmap ${this.ns}/${s.configMap.name}`);
          } else if (s.secret) {
            part = keyedPayload(s.secret, await this.fetchData('secret', s.secret.name), mode, `secret ${this.ns}/${s.secret.name}`);
          } else if (s.downwardAPI) {
            part = downwardPayload(this.pod, s.downwardAPI.items ?? [], mode, this.envContext());
          } else {
            throw new ConfigError(`unsupported projected source in volume ${name}`);
          }
          for (const [k, f] of part) payload.set(k, f);
        }
      } else {
        throw new ConfigError(`unsupported volume type in ${name}: ${Object.keys(v).filter((k) => k !== 'name').join(',')}`);
      }
      if (payload) {
        const hash = payloadHash(payload);
        if (this.volumeHashes.get(name) !== hash) {
          atomicWrite(path, payload);
          this.volumeHashes.set(name, hash);
        }
      }
      this.volumePaths.set(name, path);
    }
  }

  // ------------------------------------------------------------------ containers
  private async envFor(c: Container): Promise<Array<[string, string]>> {
    const configMaps = new Map<string, DataMap>();
    const secrets = new Map<string, DataMap>();
    const want = (kind: 'configMap' | 'secret', name: string | undefined): void => {
      if (name) (kind === 'configMap' ? configMaps : secrets).set(name, {});
    };
    for (const f of (c.spec.envFrom ?? []) as KObject[]) {
      want('configMap', f.configMapRef?.name);
      want('secret', f.secretRef?.name);
    }
    for (const e of (c.spec.env ?? []) as KObject[]) {
      want('configMap', e.valueFrom?.configMapKeyRef?.name);
      want('secret', e.valueFrom?.secretKeyRef?.name);
    }
    for (const [maps, kind] of [[configMaps, 'configMap'], [secrets, 'secret']] as const) {
      for (const n of [...maps.keys()]) {
        const data = await this.fetchData(kind, n);
        if (data) maps.set(n, Object.fromEntries([...data].map(([k, v]) => [k, v.toString('utf8')])));
        else maps.delete(n);
      }
    }
    return containerEnv(this.pod, c.spec, { ...this.envContext(), configMaps, secrets, serviceEnv: this.r.serviceEnv() });
  }

  private async startContainer(c: Container): Promise<void> {
    if (this.finishing() || c.proc) return;
    const image = matchImage(this.r.o.images, c.image);
    let argv: string[];
    try {
      c.env = await this.envFor(c);
      argv = containerArgv(c.spec, image, c.env);
    } catch (e) {
      if (!(e instanceof ConfigError || e instanceof KubeError)) throw e;
      c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: e.message };
      this.flush();
      return;
    }
    if (this.finishing() || c.proc) return;
    const { hostname } = podHostname(this.pod);
    const mounts: string[] = [];
    const etc = join(this.dir, 'etc');
    if (!this.pod.spec.hostNetwork) mounts.push(join(etc, 'hosts'), '/etc/hosts', 'rw', join(etc, 'resolv.conf'), '/etc/resolv.conf', 'ro');
    mounts.push(join(etc, 'hostname'), '/etc/hostname', 'ro');
    for (const m of (c.spec.volumeMounts ?? []) as KObject[]) {
      const base = this.volumePaths.get(m.name);
      if (!base) {
        c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: `no volume ${m.name}` };
        this.flush();
        return;
      }
      const src = m.subPath ? join(base, m.subPath) : base;
      if (m.subPath) mkdirSync(src, { recursive: true });
      mounts.push(src, m.mountPath, m.readOnly ? 'ro' : 'rw');
    }
    const workingDir: string = c.spec.workingDir ?? image?.workingDir ?? '/';
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: '/root',
      HOSTNAME: hostname,
      ...(image?.env ?? {}),
      ...Object.fromEntries(c.env),
    };
    const prefix = this.netns ? ['nsenter', `--net=/run/netns/${this.netns}`, '--'] : [];
    const args = ['--pdeathsig', 'KILL', '--', ...prefix, 'unshare', '--mount', '--uts', '--propagation', 'private', '--', '/bin/sh', '-c', LAUNCH, 'launch', hostname, workingDir, ...mounts, '--', ...argv];
    const logFile = join(this.logDir, `${c.name}.${this.uid.slice(0, 8)}.${c.restartCount}.log`);
    const fd = openSync(logFile, 'a');
    const link = join(this.logDir, `${c.name}.log`);
    rmSync(link, { force: true });
    symlinkSync(logFile, link);
    const proc = spawn('setpriv', args, { env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    c.proc = proc;
    // For `cli.js exec`: the pid of the container's main process (its namespaces).
    writeFileSync(join(this.logDir, `${c.name}.pid`), String(proc.pid));
    c.startedMs = Date.now();
    const startedAt = nowIso();
    c.state = { kind: 'running', startedAt };
    c.started = !c.spec.startupProbe;
    c.ready = false;
    this.log(`started ${c.name} (pid ${proc.pid}): ${argv.join(' ')}`);
    c.exited = new Promise<void>((resolve) => {
      proc.on('error', (e) => {
        this.log(`${c.name}: ${String(e)}`);
      });
      proc.on('exit', (code, signal) => {
        c.proc = undefined;
        this.onExit(c, code ?? 128 + (SIGNUM[signal ?? ''] ?? 0), signal ?? undefined, startedAt);
        resolve();
      });
    });
    if (!c.isInit) this.startProbes(c);
    if (!c.isInit && !c.spec.readinessProbe && c.started) c.ready = true;
    this.flush();
  }

  private onExit(c: Container, exitCode: number, signal: string | undefined, startedAt: string): void {
    c.clearTimers();
    c.ready = false;
    c.started = false;
    const terminated: ContainerState = {
      kind: 'terminated',
      exitCode,
      ...(signal ? { signal: SIGNUM[signal] ?? 0 } : {}),
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: nowIso(),
    };
    this.log(`${c.name} exited with ${exitCode}${signal ? ` (${signal})` : ''}`);
    if (this.finishing()) {
      c.state = terminated;
      this.flush();
      return;
    }
    const policy: string = this.pod.spec.restartPolicy ?? 'Always';
    const ranLong = Date.now() - c.startedMs > 60_000;
    if (c.isInit) {
      if (exitCode === 0) {
        c.state = terminated;
        c.ready = true;
        this.initIndex++;
        if (this.initIndex < this.init.length) void this.startContainer(this.init[this.initIndex]!);
        else {
          this.stage = 'main';
          for (const m of this.main) void this.startContainer(m);
        }
        this.flush();
        return;
      }
      if (policy === 'Never') {
        c.state = terminated;
        this.flush();
        return;
      }
    } else if (!shouldRestart(policy, exitCode)) {
      c.state = terminated;
      this.flush();
      return;
    }
    const delay = backoffDelay(ranLong ? 0 : c.restartCount, this.r.o.backoffInitialMs, this.r.o.backoffMaxMs);
    c.lastState = terminated;
    c.state = { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${this.name}` };
    c.timers.push(
      setTimeout(() => {
        c.restartCount++;
        void this.startContainer(c);
      }, delay),
    );
    this.flush();
  }

  private probeTarget(c: Container): ProbeTarget {
    const ports: Record<string, number> = {};
    for (const p of (c.spec.ports ?? []) as KObject[]) if (p.name) ports[p.name] = p.containerPort;
    return {
      podIP: this.podIP ?? '127.0.0.1',
      ports,
      exec: (argv, timeoutMs) => this.exec(c, argv, timeoutMs),
    };
  }

  /** Runs a command inside a running container's namespaces, with its environment. */
  exec(c: Container, argv: string[], timeoutMs: number): Promise<number> {
    const pid = c.proc?.pid;
    if (!pid) return Promise.resolve(-1);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...Object.fromEntries(c.env) };
    return runCommand(['nsenter', '-t', String(pid), '-n', '-m', '-u', '--wd', '--', ...argv], env, timeoutMs);
  }

  private startProbes(c: Container): void {
    const kinds: ProbeKind[] = ['startup', 'liveness', 'readiness'];
    for (const kind of kinds) {
      const spec = c.spec[`${kind}Probe`] as KObject | undefined;
      if (!spec) continue;
      const tracker = new ProbeTracker(kind, spec);
      c.probes.set(kind, tracker);
      const proc = c.proc;
      const tick = async (): Promise<void> => {
        if (c.proc !== proc || this.finishing()) return;
        const action = probeAction(kind, c.started);
        if (action === 'stop') return;
        if (action === 'skip') {
          c.timers.push(setTimeout(() => void tick(), tracker.timing.periodMs));
          return;
        }
        const ok = await runProbe(spec, this.probeTarget(c));
        if (c.proc !== proc || this.finishing()) return;
        if (tracker.record(ok)) this.onProbeChange(c, kind, tracker.result === true);
        if (c.proc === proc) c.timers.push(setTimeout(() => void tick(), tracker.timing.periodMs));
      };
      c.timers.push(setTimeout(() => void tick(), tracker.firstDelay()));
    }
  }

  private onProbeChange(c: Container, kind: ProbeKind, ok: boolean): void {
    if (kind === 'readiness') {
      c.ready = ok && c.started;
    } else if (kind === 'startup' && ok) {
      c.started = true;
      if (!c.spec.readinessProbe) c.ready = true;
    } else if (!ok) {
      this.log(`${c.name}: ${kind} probe failed, restarting`);
      void this.stopContainer(c, this.pod.spec.terminationGracePeriodSeconds ?? 30);
    }
    this.flush();
  }

  /** SIGTERM, then SIGKILL to the whole process group after the grace period. */
  private async stopContainer(c: Container, graceSeconds: number): Promise<void> {
    const proc = c.proc;
    if (!proc?.pid) return;
    c.clearTimers();
    try {
      process.kill(proc.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const killed = await Promise.race([c.exited.then(() => false), sleep(graceSeconds * 1000).then(() => true)]);
    if (killed || c.proc === proc) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await c.exited;
    }
    try {
      process.kill(-proc.pid, 'SIGKILL'); // leftovers of the group
    } catch {
      /* none */
    }
  }

  private async runPreStop(c: Container, graceSeconds: number): Promise<void> {
    const hook = c.spec.lifecycle?.preStop as KObject | undefined;
    if (!hook || !c.proc) return;
    if (hook.sleep) await sleep(Math.min(hook.sleep.seconds, graceSeconds) * 1000);
    else await runProbe({ ...hook, timeoutSeconds: graceSeconds }, this.probeTarget(c));
  }

  /** Graceful deletion: preStop, SIGTERM, grace period, SIGKILL, then the API object is removed. */
  async terminate(graceSeconds: number): Promise<void> {
    this.stage = 'terminating';
    this.log(`terminating (grace ${graceSeconds}s)`);
    const deadline = Date.now() + graceSeconds * 1000;
    const all = [...this.init, ...this.main];
    for (const c of all) {
      c.clearTimers();
      c.ready = false;
    }
    this.flush();
    await Promise.all(
      all.map(async (c) => {
        await this.runPreStop(c, graceSeconds);
        await this.stopContainer(c, Math.max(0, (deadline - Date.now()) / 1000));
      }),
    );
    for (const c of all) {
      if (c.state.kind !== 'terminated') {
        const at = nowIso();
        c.state = { kind: 'terminated', exitCode: 137, reason: 'ContainerStatusUnknown', startedAt: at, finishedAt: at };
      }
    }
    await this.writeStatus();
    await this.teardown();
    await this.r.o.kube
      .delete(apiPath('v1', 'pods', this.ns, this.name), { gracePeriodSeconds: 0, preconditions: { uid: this.uid } })
      .catch((e) => this.log(`final delete: ${String(e)}`));
  }

  /** The pod is gone from the API (or the runner stops): kill at once. */
  async kill(): Promise<void> {
    if (this.stage === 'gone') return;
    this.stage = 'gone';
    await Promise.all([...this.init, ...this.main].map((c) => this.stopContainer(c, 0)));
    await this.teardown();
  }

  private async teardown(): Promise<void> {
    this.stage = 'gone';
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.netns && this.podIP) await this.r.net.removePod(this.netns, this.podIP);
    this.netns = undefined;
    rmSync(this.dir, { recursive: true, force: true });
    this.r.forget(this.uid);
  }

  // ------------------------------------------------------------------ status
  private flush(): void {
    if (this.flushTimer || this.stage === 'gone') return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.writeStatus();
    }, 50);
  }

  private async writeStatus(): Promise<void> {
    const status = podStatus(
      {
        pod: this.pod,
        ...(this.podIP ? { podIP: this.podIP } : {}),
        hostIP: this.r.gateway,
        startTime: this.startTime,
        initialized: this.stage === 'main' || (this.stage === 'terminating' && this.initIndex >= this.init.length) || this.init.length === 0,
        init: this.init,
        containers: this.main,
        ...(this.failure ? { failure: this.failure } : {}),
      },
      nowIso(),
    );
    const text = JSON.stringify(status);
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    try {
      await this.r.o.kube.patch(apiPath('v1', 'pods', this.ns, this.name) + '/status', { metadata: { uid: this.uid }, status }, 'merge');
    } catch (e) {
      if (e instanceof KubeError && (e.status === 404 || e.status === 409)) return;
      this.lastStatus = '';
      this.log(`status: ${String(e)}`);
    }
  }
}
