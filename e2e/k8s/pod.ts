// One pod on the local pod runner: its sandbox (network namespace, /etc files), volumes,
// containers (init first), probes, status, restarts and graceful termination.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiPath, KubeError, type KObject } from './kube.js';
import type { PodNetwork } from './netns.js';
import { ConfigError, containerArgv, containerEnv, hostsFile, matchImage, podHostname, resolvConf, type DataMap, type EnvContext } from './podspec.js';
import { probeAction, ProbeTracker, runCommand, runProbe, type ProbeKind, type ProbeTarget } from './probes.js';
import type { RunnerOptions } from './runner.js';
import { backoffDelay, podStatus, shouldRestart, type ContainerState, type ContainerView } from './status.js';
import { atomicWrite, downwardPayload, keyedPayload, objectData, payloadHash, type Payload } from './volumes.js';

/** What a pod needs from the runner. */
export interface PodHost {
  readonly o: RunnerOptions;
  readonly net: PodNetwork;
  readonly gateway: string;
  serviceEnv(): DataMap;
  forget(uid: string): void;
}

const nowIso = (): string => new Date().toISOString();
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

export class PodWorker {
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
    private readonly r: PodHost,
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
