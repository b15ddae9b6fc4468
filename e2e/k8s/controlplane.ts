// Starts a real control plane on loopback for a test run (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) plus the local pod runner, and tears it all down.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kube, KubeError } from './kube.js';
import { pickServiceCidr, pickSubnet, type Subnet } from './netns.js';
import { kubeconfig, makePki } from './pki.js';
import { API_PROXY_PORT, PROVISIONER } from './runner.js';

const execFileP = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url)); // e2e/dist/k8s
export const E2E_DIR = resolve(HERE, '../..');
export const REPO_DIR = resolve(E2E_DIR, '..');
export const K8S_VERSION = process.env.K8S_VERSION ?? 'v1.34.4';

export interface ClusterOptions {
  /** Number of Node objects the runner registers (all run on this machine). Default 3. */
  nodes?: number;
  /** Where the run directory goes (default: a new temp dir). */
  dir?: string;
  /** Keep the run directory after stop() (logs, volumes). Default: env CONCLAVE_K8S_KEEP=1. */
  keep?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Restart back-off of the runner, initial and cap in ms (the kubelet's are 10 s and 300 s). */
  backoffMs?: [number, number];
}

export interface Cluster {
  dir: string;
  kubeconfigPath: string;
  server: string;
  kube: Kube;
  subnet: Subnet;
  /** Address of the cluster DNS server and of the API server as pods see it (<gateway>:443). */
  gateway: string;
  binDir: string;
  nodes: string[];
  /** Environment for tools (kubectl, helm) and host processes: KUBECONFIG, CONCLAVE_K8S_DNS... */
  env: Record<string, string>;
  /** Where container logs go: logs/<namespace>/<pod>/<container>.log */
  logDir: string;
  stop(): Promise<void>;
}

/** Runs e2e/k8s/provision.sh (builds once, then cached) and returns the bin directory. */
export async function provision(log: (l: string) => void): Promise<string> {
  if (process.env.CONCLAVE_K8S_BIN) return process.env.CONCLAVE_K8S_BIN;
  return new Promise((resolvePath, reject) => {
    const child = spawn('bash', [join(E2E_DIR, 'k8s', 'provision.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach(log));
    child.on('exit', (code) => (code === 0 ? resolvePath(out.trim().split('\n').pop()!) : reject(new Error(`provision.sh exited with ${code}`))));
  });
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, proc?: ChildProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: process exited with ${proc.exitCode}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(200);
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
}

/** Spawns a component; it dies with us (PR_SET_PDEATHSIG through setpriv) and logs to logs/<name>.log. */
function launch(dir: string, name: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const fd = openSync(join(dir, 'logs', `${name}.log`), 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  return { name, child };
}

async function stopProc(p: Proc, graceMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    p.child.kill('SIGKILL');
    await exited;
  }
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[k8s] ${l}\n`));
  const t0 = Date.now();
  const binDir = await provision(log);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'conclave-k8s-'));
  for (const d of ['pki', 'logs', 'etcd']) mkdirSync(join(dir, d), { recursive: true });
  const keep = opts.keep ?? process.env.CONCLAVE_K8S_KEEP === '1';
  const procs: Proc[] = [];
  const tag = randomBytes(3).toString('hex');
  const subnet = await pickSubnet();
  const nodes = Array.from({ length: opts.nodes ?? 3 }, (_, i) => `node-${i + 1}`);
  // A service range of its own per run: parallel runs never share addresses.
  const serviceCidr = await pickServiceCidr();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // The runner first: it stops the pods and removes the pod network.
    for (const p of [...procs].reverse()) await stopProc(p, p.name === 'runner' ? 15_000 : 5_000);
    if (!keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  };

  try {
    const pki = await makePki(join(dir, 'pki'), ['127.0.0.1', subnet.gateway, `${serviceCidr.split('.').slice(0, 3).join('.')}.1`], [
      'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local',
    ]);
    const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfig(server, pki), { mode: 0o600 });

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = launch(dir, 'etcd', [
      join(binDir, 'etcd'), '--name=default', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`, '--unsafe-no-fsync', '--log-level=warn',
    ]);
    procs.push(etcd);
    await waitFor('etcd', 30_000, async () => ((await fetch(`${etcdUrl}/health`)).ok ? true : undefined), etcd.child);
    log(`etcd up on ${etcdUrl} (${Date.now() - t0} ms)`);

    const apiserver = launch(dir, 'kube-apiserver', [
      join(binDir, 'kube-apiserver'),
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', `--secure-port=${apiPort}`, '--advertise-address=127.0.0.1',
      `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      '--shutdown-delay-duration=0s',
      '--enable-priority-and-fairness=false',
      '--endpoint-reconciler-type=none',
      '--v=1',
    ]);
    procs.push(apiserver);
    const kube = Kube.fromKubeconfig(kubeconfigPath);
    await waitFor('kube-apiserver /readyz', 90_000, async () => ((await kube.request<string>('GET', '/readyz')) ? true : undefined), apiserver.child);
    log(`kube-apiserver up on ${server} (${Date.now() - t0} ms)`);

    await kube.create('/apis/storage.k8s.io/v1/storageclasses', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: PROVISIONER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
      allowVolumeExpansion: true,
    });

    procs.push(
      launch(dir, 'kube-controller-manager', [
        join(binDir, 'kube-controller-manager'),
        `--kubeconfig=${kubeconfigPath}`,
        '--controllers=*',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--concurrent-statefulset-syncs=5',
        '--v=1',
      ]),
    );
    // A pod found unschedulable while its claim was still unbound waits for an event that requeues
    // it; when the claim's binding raced ahead of that (CI saw it: a StatefulSet's new member pod
    // scheduled 5 min 16 s after its volume was provisioned, failing the test), only the periodic
    // flush retries it, after 5 minutes by default. Retry such pods within seconds here.
    procs.push(
      launch(dir, 'kube-scheduler', [
        join(binDir, 'kube-scheduler'),
        `--kubeconfig=${kubeconfigPath}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--pod-max-in-unschedulable-pods-duration=10s',
        '--v=1',
      ]),
    );

    const runnerConfig = join(dir, 'runner.json');
    const [b0, b1] = opts.backoffMs ?? [1000, 20_000];
    writeFileSync(
      runnerConfig,
      JSON.stringify({ kubeconfig: kubeconfigPath, nodes, runDir: dir, subnet: subnet.prefix, serviceCidr, tag, apiServerPort: apiPort, backoffInitialMs: b0, backoffMaxMs: b1, kubeletVersion: K8S_VERSION }),
    );
    const runner = launch(dir, 'runner', [process.execPath, '--enable-source-maps', join(HERE, 'runner-main.js'), runnerConfig]);
    procs.push(runner);
    await waitFor('runner', 30_000, async () => (existsSync(join(dir, 'runner.ready')) ? true : undefined), runner.child);
    await waitFor('nodes Ready', 30_000, async () => {
      const list = await kube.get<{ items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> }>('/api/v1/nodes');
      const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length >= nodes.length ? true : undefined;
    });
    await waitFor('default service account', 30_000, async () => ((await kube.find('/api/v1/namespaces/default/serviceaccounts/default')) ? true : undefined));
    log(`control plane and runner ready in ${Date.now() - t0} ms; KUBECONFIG=${kubeconfigPath}`);

    return {
      dir,
      kubeconfigPath,
      server,
      kube,
      subnet,
      gateway: subnet.gateway,
      binDir,
      nodes,
      logDir: join(dir, 'logs'),
      env: {
        KUBECONFIG: kubeconfigPath,
        CONCLAVE_K8S_DNS: subnet.gateway,
        CONCLAVE_K8S_API: `${subnet.gateway}:${API_PROXY_PORT}`,
        CONCLAVE_K8S_BIN: binDir,
        CONCLAVE_K8S_DIR: dir,
      },
      stop: async () => {
        kube.close();
        await stop();
      },
    };
  } catch (e) {
    for (const p of [...procs].reverse()) await stopProc(p, p.name === 'runner' ? 15_000 : 3000);
    log(`start failed: ${String(e)}; run dir left for inspection: ${dir}`);
    throw e;
  }
}

/** A fresh namespace (with its default service account in place), deleted by the returned function. */
export async function createNamespace(kube: Kube, prefix = 't'): Promise<{ name: string; remove: (waitMs?: number) => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await waitFor(`serviceaccount ${name}/default`, 30_000, async () => ((await kube.find(`/api/v1/namespaces/${name}/serviceaccounts/default`)) ? true : undefined));
  return {
    name,
    remove: async (waitMs = 60_000) => {
      await kube.delete(`/api/v1/namespaces/${name}`);
      if (waitMs > 0) await waitFor(`namespace ${name} deleted`, waitMs, async () => ((await kube.find(`/api/v1/namespaces/${name}`)) ? undefined : true));
    },
  };
}

/** helm/kubectl with the cluster's KUBECONFIG. */
export async function runTool(cluster: Cluster, tool: 'helm' | 'kubectl', args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = tool === 'helm' ? join(cluster.binDir, 'helm') : 'kubectl';
  const home = join(cluster.dir, 'helm-home');
  try {
    return await execFileP(bin, args, {
      env: {
        ...process.env,
        ...cluster.env,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
      maxBuffer: 32 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${tool} ${args.join(' ')}: ${err.stderr || err.message}\n${err.stdout ?? ''}`);
  }
}

export { KubeError, waitFor };
