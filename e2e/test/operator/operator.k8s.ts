// The Conclave operator against a real control plane with pods really running (npm run test:k8s):
// create, write, scale 3 -> 5 -> 3 under load, rolling upgrade leader last, validation by the API
// server, an operator killed mid-scale, no stale data after scale-down/up, clean deletion; then
// the same operator installed in the cluster by helm and by kubectl apply -f manifests/.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Conclave } from '@conclave/client';
import {
  AdminClients,
  buildCrd,
  expectedClusterId,
  Kube as OperatorKube,
  MANIFESTS,
  MANIFEST_RELEASE,
  reconcile,
  renderOperatorManifest,
  REPLICAS_MESSAGE,
  quorum,
  type CoordinationCluster,
} from '@conclave/operator';
import { createNamespace, freePort, REPO_DIR, runTool, startCluster, waitFor, type Cluster } from '../../k8s/controlplane.js';
import { installClusterDns } from '../../k8s/dns-preload.js';
import { apiPath, KubeError, type Kube, type KObject } from '../../k8s/kube.js';
import { loadPublicApi } from '@conclave/proto';
import * as grpc from '@grpc/grpc-js';

const CCL = (ns: string, name = '') => `/apis/conclave.dev/v1alpha1/namespaces/${ns}/coordinationclusters${name ? `/${name}` : ''}`;
const CRD_NAME = 'coordinationclusters.conclave.dev';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Status {
  phase?: string;
  ready?: string;
  leader?: string;
  currentVersion?: string;
  observedGeneration?: number;
  members?: Array<{ id: number; pod: string; role: string; voter: boolean; healthy: boolean }>;
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
}

const condition = (s: Status | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

/** Waits until the resource's status satisfies `ok` for its current generation. */
async function waitStatus(kube: Kube, ns: string, name: string, what: string, timeoutMs: number, ok: (s: Status, o: KObject) => boolean): Promise<Status> {
  return waitFor(`${name}: ${what}`, timeoutMs, async () => {
    const o = await kube.get(CCL(ns, name));
    const s = o.status as Status | undefined;
    return s && s.observedGeneration === o.metadata.generation && ok(s, o) ? s : undefined;
  });
}

const settled = (replicas: number) => (s: Status) =>
  s.phase === 'Running' && s.ready === `${replicas}/${replicas}` && condition(s, 'Progressing')?.status === 'False' && condition(s, 'Available')?.status === 'True';

/** The operator as a process on the host (so that a test can kill -9 it), like `npm start` of it. */
class HostOperator {
  child: ChildProcess | undefined;
  constructor(
    private readonly cluster: Cluster,
    private readonly leaseNamespace: string,
    private readonly logFile: string,
  ) {}

  async start(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(process.execPath, ['--import', join(REPO_DIR, 'e2e/dist/k8s/dns-preload.js'), join(REPO_DIR, 'operator/dist/src/main.js')], {
      env: {
        ...process.env,
        ...this.cluster.env,
        LEADER_ELECTION_NAMESPACE: this.leaseNamespace,
        LEASE_DURATION_SECONDS: '3',
        METRICS_PORT: String(await freePort()),
        CONCLAVE_SERVER_IMAGE: 'conclave/server',
      },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    return exited;
  }
}

/** Writes persistent znodes in a loop through the client Service; remembers every acknowledged one. */
class WriteLoad {
  readonly acked: string[] = [];
  errors = 0;
  private running = true;
  private readonly done: Promise<void>;
  constructor(
    private readonly client: Conclave,
    readonly root: string,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    await this.client.create(this.root, '');
    let i = 0;
    const worker = async () => {
      while (this.running) {
        const path = `${this.root}/w-${i++}`;
        try {
          await this.client.create(path, `written at ${Date.now()}`, { timeoutMs: 20_000 });
          this.acked.push(path);
        } catch {
          this.errors++;
          await sleep(50);
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /** Every acknowledged write is there, read through a fresh session. */
  async verify(endpoints: string): Promise<number> {
    const reader = await Conclave.connect({ endpoints });
    try {
      const present = new Set((await reader.getChildren(this.root)).map((c) => `${this.root}/${c}`));
      const lost = this.acked.filter((p) => !present.has(p));
      assert.deepEqual(lost, [], `${lost.length} of ${this.acked.length} acknowledged writes lost`);
      return this.acked.length;
    } finally {
      await reader.close();
    }
  }
}

function adminStatus(address: string): Promise<{ memberId: number; role: string; leaderId: number; clusterId: string }> {
  const Cluster = loadPublicApi().conclave.v1.Cluster;
  const client = new Cluster(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.Status({}, { deadline: Date.now() + 3000 }, (e, s) => {
      client.close();
      if (e || !s) reject(e ?? new Error('no status'));
      else resolve(s as never);
    }),
  );
}

function adminMembers(address: string): Promise<{ members: Array<{ id: number; voter: boolean }>; removedIds: number[] }> {
  const Cluster = loadPublicApi().conclave.v1.Cluster;
  const client = new Cluster(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.Members({}, { deadline: Date.now() + 3000 }, (e, s) => {
      client.close();
      if (e || !s) reject(e ?? new Error('no members'));
      else resolve(s as never);
    }),
  );
}

describe('Conclave operator (real control plane, pods running)', function () {
  let cluster: Cluster;
  let kube: Kube;

  before(async function () {
    this.timeout(45 * 60_000); // the first run builds the binaries
    cluster = await startCluster();
    kube = cluster.kube;
    installClusterDns(cluster.gateway);
    // The CRD first: the garbage collector discovers new resource types only every 30 s.
    await runTool(cluster, 'kubectl', ['apply', '--server-side', '-f', join(MANIFESTS, '00-crd.yaml')]);
    // Stand-ins for the Prometheus Operator's CRDs (schema-less): the operator creates its
    // ServiceMonitor and PrometheusRule only where that API exists.
    for (const [plural, kind] of [['servicemonitors', 'ServiceMonitor'], ['prometheusrules', 'PrometheusRule']] as const) {
      await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${plural}.monitoring.coreos.com` },
        spec: {
          group: 'monitoring.coreos.com',
          scope: 'Namespaced',
          names: { plural, kind, singular: kind.toLowerCase() },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
        },
      });
    }
    for (const crdName of [CRD_NAME, 'servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']) {
      await waitFor(`CRD ${crdName} established`, 30_000, async () => {
        const crd = await kube.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`);
        return crd.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      });
    }
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });

  describe('the API server validates CoordinationClusters (CRD schema and CEL rules)', () => {
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    before(async () => {
      ns = await createNamespace(kube, 'valid');
    });
    after(async () => {
      await ns?.remove(0);
    });

    it('rejects an even or out-of-range replica count with a message that says why', async () => {
      for (const replicas of [4, 2]) {
        await assert.rejects(kube.create(CCL(ns.name), { apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', metadata: { name: `even-${replicas}` }, spec: { replicas, version: '0.1.0' } }), (e: unknown) => {
          assert.ok(e instanceof KubeError && e.status === 422, String(e));
          assert.ok(e.message.includes(REPLICAS_MESSAGE), e.message);
          return true;
        });
      }
      await assert.rejects(kube.create(CCL(ns.name), { apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', metadata: { name: 'big' }, spec: { replicas: 11, version: '0.1.0' } }), /less than or equal to 9/);
      await assert.rejects(kube.create(CCL(ns.name), { apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', metadata: { name: 'noversion' }, spec: { replicas: 3 } }), /spec.version: Required value/);
    });

    it('applies the schema defaults and keeps storage immutable', async () => {
      const created = await kube.create(CCL(ns.name), { apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', metadata: { name: 'defaults' }, spec: { version: '0.1.0' } });
      assert.equal(created.spec.replicas, 3);
      assert.deepEqual(created.spec.storage, { size: '1Gi', onScaleDown: 'Delete', onDelete: 'Delete' });
      assert.equal(created.spec.pod.antiAffinity, 'Preferred');
      await assert.rejects(kube.patch(CCL(ns.name, 'defaults'), { spec: { storage: { size: '2Gi' } } }), /storage.size is immutable/);
      await assert.rejects(kube.patch(CCL(ns.name, 'defaults'), { spec: { storage: { storageClassName: 'fast' } } }), /storageClassName is immutable/);
      await assert.rejects(kube.patch(CCL(ns.name, 'defaults'), { spec: { config: { minSessionTimeoutMs: 9000, maxSessionTimeoutMs: 4000 } } }), /minSessionTimeoutMs must not exceed/);
      await kube.delete(CCL(ns.name, 'defaults'));
    });

    it('serves the CRD the operator builds (what the chart and manifests/ install)', async () => {
      const served = await kube.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
      const built = buildCrd() as { spec: { versions: Array<{ additionalPrinterColumns: unknown }> } };
      assert.deepEqual(served.spec.versions[0].additionalPrinterColumns, built.spec.versions[0]!.additionalPrinterColumns);
      assert.deepEqual(served.spec.names.shortNames, ['ccl']);
    });
  });

  describe('reconcile against the API server (in-process, before any member runs)', () => {
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    const admin = new AdminClients();
    before(async () => {
      ns = await createNamespace(kube, 'rec');
    });
    after(async function () {
      this.timeout(60_000);
      admin.close();
      await ns?.remove();
    });

    it('creates the owned objects by server-side apply, reports status, and a second pass changes nothing', async () => {
      const ok = OperatorKube.fromFile(cluster.kubeconfigPath);
      const cr = (await kube.create(CCL(ns.name), { apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', metadata: { name: 'rec' }, spec: { replicas: 3, version: '0.1.0' } })) as unknown as CoordinationCluster;
      const deps = { kube: ok, admin, serverImageRepository: 'conclave/server', log: () => undefined };
      const first = await reconcile(cr, { pods: [], volumes: [] }, deps);
      assert.equal(first.plan?.replicas, 1, 'member 1 founds the cluster alone');
      const owned = [
        apiPath('v1', 'serviceaccounts', ns.name, 'rec'),
        apiPath('v1', 'configmaps', ns.name, 'rec-config'),
        apiPath('v1', 'services', ns.name, 'rec-peers'),
        apiPath('v1', 'services', ns.name, 'rec'),
        apiPath('apps/v1', 'statefulsets', ns.name, 'rec'),
        apiPath('policy/v1', 'poddisruptionbudgets', ns.name, 'rec'),
      ];
      // What a no-op apply must leave alone: the generation where there is one (the StatefulSet and
      // PDB controllers write their status meanwhile, which moves resourceVersion), else the version.
      const specVersion = (o: { metadata: { generation?: number; resourceVersion?: string } }) =>
        o.metadata.generation !== undefined ? `generation ${o.metadata.generation}` : o.metadata.resourceVersion;
      const versions = [];
      for (const path of owned) {
        const o = await kube.get(path);
        assert.equal(o.metadata.ownerReferences?.[0]?.uid, cr.metadata.uid, path);
        assert.ok((o.metadata as unknown as { managedFields: Array<{ manager: string; operation: string }> }).managedFields.some((f: { manager: string; operation: string }) => f.manager === 'conclave-operator' && f.operation === 'Apply'), path);
        versions.push(specVersion(o));
      }
      const sts = await kube.get(apiPath('apps/v1', 'statefulsets', ns.name, 'rec'));
      assert.equal(sts.spec.replicas, 1);
      assert.equal(sts.spec.updateStrategy.type, 'OnDelete');
      const withStatus = (await kube.get(CCL(ns.name, 'rec'))) as unknown as CoordinationCluster;
      assert.equal(withStatus.status?.observedGeneration, 1);
      assert.equal(withStatus.status?.phase, 'Creating');
      assert.equal(condition(withStatus.status as Status, 'Progressing')?.reason, 'Founding');
      await reconcile(withStatus, { pods: [], volumes: [] }, deps);
      const again = [];
      for (const path of owned) again.push(specVersion(await kube.get(path)));
      assert.deepEqual(again, versions, 'applying the same desired state is a no-op');
      assert.equal((await kube.get(CCL(ns.name, 'rec'))).metadata.resourceVersion, withStatus.metadata.resourceVersion, 'an unchanged status is not written');
      assert.notEqual(expectedClusterId(withStatus), '');
    });
  });

  describe('a cluster managed by the operator (run on the host)', function () {
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    let operator: HostOperator;
    let client: Conclave;
    const name = 'conclave';
    const clientEndpoint = () => `${name}.${ns.name}.svc:2281`;
    const podAddress = async (pod: string) => `${(await kube.get(apiPath('v1', 'pods', ns.name, pod))).status.podIP}:2281`;

    before(async () => {
      ns = await createNamespace(kube, 'ccl');
      operator = new HostOperator(cluster, ns.name, join(cluster.logDir, 'operator-host.log'));
      await operator.start();
    });

    after(async function () {
      this.timeout(120_000);
      await client?.close().catch(() => undefined);
      await operator?.kill('SIGTERM');
      await ns?.remove(90_000);
    });

    it('a 3-member cluster comes up: 3 ready members, one leader, status and printer columns right', async function () {
      this.timeout(180_000);
      const t0 = Date.now();
      await kube.create(CCL(ns.name), {
        apiVersion: 'conclave.dev/v1alpha1',
        kind: 'CoordinationCluster',
        metadata: { name },
        spec: { replicas: 3, version: '0.1.0', metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } },
      });
      const s = await waitStatus(kube, ns.name, name, '3/3 Running', 150_000, settled(3));
      process.stderr.write(`      (3 members ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
      assert.equal(s.members?.length, 3);
      assert.equal(s.members?.filter((m) => m.role === 'Leader').length, 1);
      assert.ok(s.members?.every((m) => m.voter && m.healthy));
      assert.equal(s.currentVersion, '0.1.0');
      assert.equal(condition(s, 'Degraded')?.status, 'False');
      // The members agree: one leader, the one the status names, in the cluster the operator expects.
      const leaders = new Set<number>();
      for (const m of s.members!) {
        const st = await adminStatus(await podAddress(m.pod));
        assert.equal(st.memberId, m.id, 'myid = ordinal + 1');
        leaders.add(st.leaderId);
      }
      assert.deepEqual([...leaders], [Number(s.leader!.split('-').pop()) + 1]);
      const cr = (await kube.get(CCL(ns.name, name))) as unknown as CoordinationCluster;
      assert.equal((await adminStatus(await podAddress(`${name}-0`))).clusterId, expectedClusterId(cr));
      const table = (await runTool(cluster, 'kubectl', ['get', 'ccl', name, '-n', ns.name])).stdout.trim().split('\n');
      assert.match(table[0]!, /^NAME\s+READY\s+LEADER\s+VERSION\s+AGE$/);
      assert.match(table[1]!, new RegExp(`^${name}\\s+3/3\\s+${s.leader}\\s+0\\.1\\.0\\s+\\d+s$`));
      const pdb = await kube.get(apiPath('policy/v1', 'poddisruptionbudgets', ns.name, name));
      assert.equal(pdb.spec.minAvailable, 2);
      const monitor = await kube.get(`/apis/monitoring.coreos.com/v1/namespaces/${ns.name}/servicemonitors/${name}`);
      assert.equal(monitor.spec.endpoints[0].port, 'metrics');
      const rules = await kube.get(`/apis/monitoring.coreos.com/v1/namespaces/${ns.name}/prometheusrules/${name}`);
      assert.deepEqual(
        rules.spec.groups[0].rules.map((r: { alert: string }) => r.alert),
        ['ConclaveNoLeader', 'ConclaveMemberLagging', 'ConclaveSlowFsync', 'ConclaveMemberDown', 'ConclaveFrequentElections'],
      );
      const events = await kube.get<{ items: KObject[] }>(`${apiPath('v1', 'events', ns.name)}?fieldSelector=involvedObject.name%3D${name}`);
      const ours = events.items.filter((e) => e.source?.component === 'conclave-operator');
      assert.deepEqual(new Set(ours.map((e) => e.reason)), new Set(['MemberAdded', 'MemberPromoted']), 'member 1 founds, 2 and 3 join as learners');
    });

    it('a client writes and reads through the client Service', async () => {
      client = await Conclave.connect({ endpoints: clientEndpoint() });
      await client.create('/hello', 'world');
      assert.equal((await client.get('/hello')).data.toString(), 'world');
    });

    it('all members deleted at once (more than a quorum) come back with their data and ids, no reconfiguration', async function () {
      this.timeout(180_000);
      const before = await adminMembers(await podAddress(`${name}-0`));
      const uids = await Promise.all([0, 1, 2].map(async (k) => (await kube.get(apiPath('v1', 'pods', ns.name, `${name}-${k}`))).metadata.uid));
      await Promise.all([0, 1, 2].map((k) => kube.delete(apiPath('v1', 'pods', ns.name, `${name}-${k}`))));
      await waitFor('all pods replaced', 60_000, async () => {
        for (let k = 0; k < 3; k++) if ((await kube.find(apiPath('v1', 'pods', ns.name, `${name}-${k}`)))?.metadata.uid === uids[k]) return undefined;
        return true;
      });
      const t0 = Date.now();
      await waitStatus(kube, ns.name, name, '3/3 after losing every pod', 150_000, settled(3));
      process.stderr.write(`      (back to 3/3 ${((Date.now() - t0) / 1000).toFixed(1)} s after the pods were replaced)\n`);
      const after = await adminMembers(await podAddress(`${name}-0`));
      assert.deepEqual(after.members, before.members, 'the same configuration: nobody was re-added');
      assert.equal((await client.get('/hello', { linearizable: true })).data.toString(), 'world');
      assert.equal((await kube.get(CCL(ns.name, name))).spec.replicas, 3, 'a pod loss never changes the desired size');
    });

    it('a drain cannot take the cluster below quorum: the PDB admits one eviction of three, not two', async function () {
      this.timeout(120_000);
      const pdbPath = apiPath('policy/v1', 'poddisruptionbudgets', ns.name, name);
      await waitFor('PDB allows one disruption', 60_000, async () => ((await kube.get(pdbPath)).status?.disruptionsAllowed === 1 ? true : undefined));
      const evict = (pod: string) =>
        kube.create(`${apiPath('v1', 'pods', ns.name, pod)}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ns.name } });
      const evicted = (await kube.get(apiPath('v1', 'pods', ns.name, `${name}-2`))).metadata.uid;
      await evict(`${name}-2`);
      await assert.rejects(evict(`${name}-1`), (e: unknown) => e instanceof KubeError && e.status === 429 && /disruption budget/.test(e.message));
      await waitFor('the evicted member back', 60_000, async () => {
        const p = await kube.find(apiPath('v1', 'pods', ns.name, `${name}-2`));
        return p && p.metadata.uid !== evicted && p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      });
      await waitStatus(kube, ns.name, name, '3/3 after the eviction', 120_000, settled(3));
    });

    it('scales 3 -> 5 -> 3 under a continuous write load: no acknowledged write lost, quorum protected by the PDB throughout', async function () {
      this.timeout(300_000);
      const load = new WriteLoad(client, '/scale');
      let samples = 0;
      let watching = true;
      const violations: string[] = [];
      const watcher = (async () => {
        while (watching) {
          try {
            const [cr, pdb] = await Promise.all([kube.get(CCL(ns.name, name)), kube.get(apiPath('policy/v1', 'poddisruptionbudgets', ns.name, name))]);
            const members = await adminMembers(await podAddress(`${name}-0`));
            const voters = members.members.filter((m) => m.voter).length;
            samples++;
            if (pdb.spec.minAvailable < quorum(voters)) violations.push(`minAvailable ${pdb.spec.minAvailable} with ${voters} voters`);
            if (members.members.filter((m) => !m.voter).length > 1) violations.push('more than one learner at once');
            void cr;
          } catch {
            // a sample lost to a leader change is fine
          }
          await sleep(300);
        }
      })();
      const t0 = Date.now();
      await kube.patch(CCL(ns.name, name), { spec: { replicas: 5 } });
      await waitStatus(kube, ns.name, name, '5/5', 150_000, settled(5));
      const t1 = Date.now();
      assert.equal((await kube.get(apiPath('policy/v1', 'poddisruptionbudgets', ns.name, name))).spec.minAvailable, 3);
      await kube.patch(CCL(ns.name, name), { spec: { replicas: 3 } });
      await waitStatus(kube, ns.name, name, '3/3', 150_000, settled(3));
      const t2 = Date.now();
      watching = false;
      await watcher;
      await load.stop();
      process.stderr.write(`      (3 -> 5 in ${((t1 - t0) / 1000).toFixed(1)} s, 5 -> 3 in ${((t2 - t1) / 1000).toFixed(1)} s; ${load.acked.length} writes acknowledged, ${load.errors} failed; ${samples} PDB samples)\n`);
      assert.deepEqual(violations, []);
      assert.ok(samples > 10);
      assert.ok(load.acked.length > 50, `only ${load.acked.length} writes`);
      await load.verify(clientEndpoint());
      const pods = await kube.get<{ items: KObject[] }>(`${apiPath('v1', 'pods', ns.name)}?labelSelector=conclave.dev/cluster%3D${name}`);
      assert.deepEqual(pods.items.map((p) => p.metadata.name).sort(), [`${name}-0`, `${name}-1`, `${name}-2`]);
      const pvcs = await kube.get<{ items: KObject[] }>(apiPath('v1', 'persistentvolumeclaims', ns.name));
      assert.deepEqual(pvcs.items.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort(), [`data-${name}-0`, `data-${name}-1`, `data-${name}-2`], 'onScaleDown: Delete');
      const members = await adminMembers(await podAddress(`${name}-0`));
      assert.deepEqual(members.members.map((m) => [m.id, m.voter]).sort(), [[1, true], [2, true], [3, true]]);
    });

    it('rolls a version change followers first and the leader last, losing no acknowledged write, with progress in status', async function () {
      this.timeout(300_000);
      const before = await kube.get(CCL(ns.name, name));
      const leader = (before.status as Status).leader!;
      const uids = new Map<string, string>();
      for (let k = 0; k < 3; k++) uids.set(`${name}-${k}`, (await kube.get(apiPath('v1', 'pods', ns.name, `${name}-${k}`))).metadata.uid!);
      const load = new WriteLoad(client, '/upgrade');
      const replaced: string[] = [];
      const progress = new Set<string>();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          try {
            const s = (await kube.get(CCL(ns.name, name))).status as Status;
            const up = condition(s, 'Upgrading');
            if (up?.status === 'True') progress.add(/(\d+\/3) members at the new template/.exec(up.message)?.[1] ?? up.message);
            for (const [pod, uid] of uids) {
              const p = await kube.find(apiPath('v1', 'pods', ns.name, pod));
              if ((!p || p.metadata.uid !== uid) && !replaced.includes(pod)) replaced.push(pod);
            }
          } catch {
            // keep sampling
          }
          await sleep(200);
        }
      })();
      const t0 = Date.now();
      await kube.patch(CCL(ns.name, name), { spec: { version: '0.2.0' } });
      const s = await waitStatus(kube, ns.name, name, 'rolled to 0.2.0', 240_000, (x) => settled(3)(x) && x.currentVersion === '0.2.0');
      const took = Date.now() - t0;
      watching = false;
      await watcher;
      await load.stop();
      process.stderr.write(`      (rolled in ${(took / 1000).toFixed(1)} s; order ${replaced.join(', ')}; leader was ${leader}; progress seen ${[...progress].join(' ')}; ${load.acked.length} writes acknowledged)\n`);
      assert.equal(replaced.length, 3);
      assert.equal(replaced[2], leader, 'the leader is replaced last');
      assert.notEqual(s.leader, undefined);
      assert.ok(progress.size >= 2, `progress seen: ${[...progress].join(', ')}`);
      for (let k = 0; k < 3; k++) assert.equal((await kube.get(apiPath('v1', 'pods', ns.name, `${name}-${k}`))).metadata.labels?.['conclave.dev/version'], '0.2.0');
      const events = await kube.get<{ items: KObject[] }>(`${apiPath('v1', 'events', ns.name)}?fieldSelector=involvedObject.name%3D${name}`);
      assert.ok(events.items.some((e) => e.reason === 'LeadershipTransferred'), 'leadership was handed over before the leader restarted');
      await load.verify(clientEndpoint());
    });

    it('a member failing at a new version stops the rollout (Degraded names it); changing the version back rolls back', async function () {
      this.timeout(240_000);
      // An image the pod runner has no rule for: the container exits 127 and crash-loops.
      await kube.patch(CCL(ns.name, name), { spec: { version: '0.3.0', image: 'conclave/server-broken:0.3.0' } });
      const failed = await waitStatus(kube, ns.name, name, 'Degraded', 120_000, (s) => condition(s, 'Degraded')?.status === 'True');
      const degraded = condition(failed, 'Degraded')!;
      assert.equal(degraded.reason, 'MemberFailed');
      assert.match(degraded.message, /^rollout stopped: member \d \(conclave-\d\) at version 0\.3\.0: CrashLoopBackOff/);
      assert.equal(failed.phase, 'Degraded');
      assert.equal(condition(failed, 'Available')?.status, 'True', 'one failed member leaves a quorum serving');
      assert.equal(failed.ready, '2/3');
      const t0 = Date.now();
      await kube.patch(CCL(ns.name, name), [{ op: 'remove', path: '/spec/image' }, { op: 'replace', path: '/spec/version', value: '0.2.0' }], 'json');
      const back = await waitStatus(kube, ns.name, name, 'rolled back', 120_000, (s) => settled(3)(s) && s.currentVersion === '0.2.0');
      process.stderr.write(`      (rolled back in ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
      assert.equal(condition(back, 'Degraded')?.status, 'False');
      await client.set('/hello', 'after the rollback');
    });

    it('rejects replicas: 4 with a clear message and leaves the cluster as it was', async () => {
      await assert.rejects(kube.patch(CCL(ns.name, name), { spec: { replicas: 4 } }), (e: unknown) => {
        assert.ok(e instanceof KubeError && e.status === 422);
        assert.match(e.message, /spec.replicas: Invalid value: .*replicas must be odd \(1, 3, 5, 7 or 9\): a Raft cluster commits with a majority/);
        return true;
      });
      assert.equal((await kube.get(CCL(ns.name, name))).spec.replicas, 3);
    });

    it('an operator killed in the middle of a scale resumes from what the cluster reports and finishes', async function () {
      this.timeout(240_000);
      await kube.patch(CCL(ns.name, name), { spec: { replicas: 5, storage: { onScaleDown: 'Retain' } } });
      // Kill it once the first new member is in the Raft configuration but the scale is not done.
      await waitFor('member 4 added', 60_000, async () => ((await adminMembers(await podAddress(`${name}-0`))).members.some((m) => m.id === 4) ? true : undefined));
      await operator.kill('SIGKILL');
      const mid = (await kube.get(CCL(ns.name, name))).status as Status;
      assert.notEqual(mid.ready, '5/5');
      await operator.start();
      const t0 = Date.now();
      await waitStatus(kube, ns.name, name, '5/5 after the restart', 150_000, settled(5));
      process.stderr.write(`      (the new operator finished the scale in ${((Date.now() - t0) / 1000).toFixed(1)} s, lease takeover included)\n`);
      const members = await adminMembers(await podAddress(`${name}-0`));
      assert.deepEqual(members.members.map((m) => [m.id, m.voter]).sort(), [[1, true], [2, true], [3, true], [4, true], [5, true]]);
    });

    it('a scale-down then scale-up does not reuse stale data (onScaleDown: Retain keeps it in a released volume)', async function () {
      this.timeout(300_000);
      const old = new Map<number, { pvc: string; volume: string }>();
      for (const k of [3, 4]) {
        const pvc = await kube.get(apiPath('v1', 'persistentvolumeclaims', ns.name, `data-${name}-${k}`));
        old.set(k, { pvc: pvc.metadata.uid!, volume: pvc.spec.volumeName });
      }
      await client.create('/while-away', 'written while members 4 and 5 were removed').catch(() => undefined);
      await kube.patch(CCL(ns.name, name), { spec: { replicas: 3 } });
      await waitStatus(kube, ns.name, name, '3/3', 150_000, settled(3));
      for (const [k, { volume }] of old) {
        await waitFor(`claim of member ${k + 1} released`, 30_000, async () => ((await kube.find(apiPath('v1', 'persistentvolumeclaims', ns.name, `data-${name}-${k}`))) ? undefined : true));
        const pv = await kube.get(`/api/v1/persistentvolumes/${volume}`);
        assert.equal(pv.spec.persistentVolumeReclaimPolicy, 'Retain');
        assert.equal(pv.metadata.labels?.['conclave.dev/member-id'], String(k + 1));
      }
      await client.set('/while-away', 'changed while members 4 and 5 were removed');
      await kube.patch(CCL(ns.name, name), { spec: { replicas: 5 } });
      await waitStatus(kube, ns.name, name, '5/5 again', 150_000, settled(5));
      for (const [k, { pvc, volume }] of old) {
        const fresh = await kube.get(apiPath('v1', 'persistentvolumeclaims', ns.name, `data-${name}-${k}`));
        assert.notEqual(fresh.metadata.uid, pvc, 'a new claim');
        assert.notEqual(fresh.spec.volumeName, volume, 'a new volume: the old data is not reused');
        const log = readFileSync(join(cluster.logDir, ns.name, `${name}-${k}`, 'server.log'), 'utf8');
        assert.match(log, /joining an existing cluster: waiting for the leader/, 'the member started empty and joined');
        const p = await kube.get(apiPath('v1', 'pods', ns.name, `${name}-${k}`));
        assert.equal(p.status.containerStatuses[0].restartCount, 0);
        const member = await Conclave.connect({ endpoints: await podAddress(`${name}-${k}`) });
        assert.equal((await member.get('/while-away', { linearizable: true })).data.toString(), 'changed while members 4 and 5 were removed');
        await member.close();
      }
    });

    it('deleting the resource deletes everything it owns', async function () {
      this.timeout(120_000);
      await client.close();
      await kube.delete(CCL(ns.name, name));
      const kinds = [
        apiPath('apps/v1', 'statefulsets', ns.name),
        apiPath('v1', 'services', ns.name),
        apiPath('v1', 'configmaps', ns.name),
        apiPath('policy/v1', 'poddisruptionbudgets', ns.name),
        apiPath('v1', 'pods', ns.name),
        apiPath('v1', 'persistentvolumeclaims', ns.name),
      ];
      await waitFor('owned objects collected', 90_000, async () => {
        for (const path of kinds) {
          const list = await kube.get<{ items: KObject[] }>(`${path}?labelSelector=conclave.dev/cluster%3D${name}`);
          if (list.items.length > 0) return undefined;
        }
        return true;
      });
      assert.equal((await kube.find(apiPath('v1', 'serviceaccounts', ns.name, name))) === undefined, true);
    });
  });

  describe('installing the operator in the cluster', () => {
    const system = MANIFEST_RELEASE.namespace;

    async function createAndWait(label: string): Promise<void> {
      const ns = await createNamespace(kube, label);
      try {
        await kube.create(CCL(ns.name), { apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', metadata: { name: 'one' }, spec: { replicas: 1, version: '0.1.0' } });
        await waitStatus(kube, ns.name, 'one', '1/1 Running', 120_000, settled(1));
        const client = await Conclave.connect({ endpoints: `one.${ns.name}.svc:2281` });
        await client.create('/in-cluster', label);
        await client.close();
      } finally {
        await ns.remove(0);
      }
    }

    async function operatorReady(namespace: string, deployment: string): Promise<void> {
      await waitFor(`${deployment} ready`, 90_000, async () => ((await kube.get(apiPath('apps/v1', 'deployments', namespace, deployment))).status?.readyReplicas === 1 ? true : undefined));
    }

    it('manifests/ are the chart rendered with its defaults (no drift), and the chart lints clean', async () => {
      const helm = join(cluster.binDir, 'helm');
      assert.equal(readFileSync(join(MANIFESTS, '10-operator.yaml'), 'utf8'), renderOperatorManifest(helm), 'run `npm run -w @conclave/operator generate`');
      const lint = await runTool(cluster, 'helm', ['lint', join(REPO_DIR, 'charts', 'conclave-operator'), '--strict']);
      assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });

    it('helm install brings up a working operator (RBAC enforced, in-cluster config)', async function () {
      this.timeout(300_000);
      await runTool(cluster, 'helm', ['install', 'conclave-operator', join(REPO_DIR, 'charts', 'conclave-operator'), '-n', 'helm-system', '--create-namespace', '--wait', '--timeout', '120s']);
      await operatorReady('helm-system', 'conclave-operator');
      await createAndWait('helm');
      await runTool(cluster, 'helm', ['uninstall', 'conclave-operator', '-n', 'helm-system', '--wait']);
    });

    it('kubectl apply -f manifests/ brings up a working operator', async function () {
      this.timeout(300_000);
      await runTool(cluster, 'kubectl', ['apply', '--server-side', '-f', MANIFESTS]);
      await operatorReady(system, 'conclave-operator');
      await createAndWait('manifests');
      await runTool(cluster, 'kubectl', ['delete', '-f', join(MANIFESTS, '10-operator.yaml'), '--wait']);
    });
  });
});

