// Smoke tests of the Kubernetes test harness, against the real API server, controllers, scheduler
// and the local pod runner (npm run test:k8s).
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createNamespace, E2E_DIR, runTool, startCluster, waitFor, type Cluster } from '../../k8s/controlplane.js';
import { installClusterDns } from '../../k8s/dns-preload.js';
import { apiPath, KubeError, type Kube, type KObject } from '../../k8s/kube.js';

const APP_IMAGE = 'conclave/e2e-app:1';

function request(url: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function json<T = Record<string, unknown>>(url: string): Promise<T> {
  const r = await request(url);
  return JSON.parse(r.body) as T;
}

const isReady = (p: KObject | undefined): boolean =>
  !!p?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

async function readyPod(kube: Kube, ns: string, name: string, notUid?: string, timeoutMs = 60_000): Promise<KObject> {
  return waitFor(`pod ${ns}/${name} Ready`, timeoutMs, async () => {
    const p = await kube.find(apiPath('v1', 'pods', ns, name));
    return p && p.metadata.uid !== notUid && isReady(p) ? p : undefined;
  });
}

describe('Kubernetes harness (real control plane + local pod runner)', function () {
  let cluster: Cluster;
  let kube: Kube;

  before(async function () {
    this.timeout(45 * 60_000); // the first run builds the binaries
    cluster = await startCluster();
    kube = cluster.kube;
    installClusterDns(cluster.gateway);
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });

  it('serves the API through kubectl with the admin kubeconfig', async function () {
    // kubectl comes with the machine image; the harness promises it works (issue 5): no skip.
    assert.ok(process.env.PATH?.split(':').some((d) => existsSync(join(d, 'kubectl'))), 'kubectl is not on PATH');
    const { stdout } = await runTool(cluster, 'kubectl', ['get', 'nodes', '-o', 'name']);
    assert.deepEqual(stdout.trim().split('\n').sort(), cluster.nodes.map((n) => `node/${n}`));
    const version = await kube.get<{ gitVersion: string }>('/version');
    assert.match(version.gitVersion, /^v1\.34\./);
  });

  describe('a CRD with a CEL validation rule', () => {
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    const crdName = 'widgets.e2e.conclave.dev';
    const widgets = (n: string): string => `/apis/e2e.conclave.dev/v1/namespaces/${n}/widgets`;

    before(async () => {
      ns = await createNamespace(kube, 'crd');
      await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: crdName },
        spec: {
          group: 'e2e.conclave.dev',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['replicas'],
                      properties: { replicas: { type: 'integer', minimum: 1, maximum: 9 } },
                      'x-kubernetes-validations': [{ rule: 'self.replicas % 2 == 1', message: 'replicas must be odd (1, 3, 5, 7 or 9) so that a majority exists' }],
                    },
                  },
                },
              },
            },
          ],
        },
      });
      await waitFor('CRD Established', 30_000, async () => {
        const crd = await kube.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`);
        return crd.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      });
    });

    after(async () => {
      await ns?.remove();
    });

    const widget = (name: string, replicas: number): KObject => ({
      apiVersion: 'e2e.conclave.dev/v1',
      kind: 'Widget',
      metadata: { name },
      spec: { replicas },
    });

    it('rejects an even replica count with the rule message, on create and on update', async () => {
      await assert.rejects(kube.create(widgets(ns.name), widget('even', 2)), (e: unknown) => {
        assert.ok(e instanceof KubeError);
        assert.equal(e.status, 422);
        assert.match(e.message, /replicas must be odd \(1, 3, 5, 7 or 9\)/);
        return true;
      });
      const ok = await kube.create(widgets(ns.name), widget('odd', 3));
      assert.equal(ok.spec.replicas, 3);
      await assert.rejects(kube.patch(`${widgets(ns.name)}/odd`, { spec: { replicas: 4 } }), /replicas must be odd/);
      // The schema's own bounds are enforced too.
      await assert.rejects(kube.create(widgets(ns.name), widget('big', 11)), /should be less than or equal to 9/);
    });
  });

  describe('a StatefulSet of a trivial Node program', () => {
    let ns: Awaited<ReturnType<typeof createNamespace>>;

    before(async () => {
      ns = await createNamespace(kube, 'sts');
      const n = ns.name;
      await kube.create(apiPath('v1', 'configmaps', n), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' }, data: { greeting: 'v1', color: 'blue' } });
      // Lets the pods' service account read pods (checked through the in-cluster client below).
      await kube.create(apiPath('rbac.authorization.k8s.io/v1', 'rolebindings', n), {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'default-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: n }],
      });
      await kube.create(apiPath('v1', 'services', n), {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'app' },
        spec: { clusterIP: 'None', selector: { app: 'app' }, ports: [{ name: 'http', port: 8080 }] },
      });
      // A ClusterIP service whose port differs from the target port (the runner proxies it).
      await kube.create(apiPath('v1', 'services', n), {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'app-client' },
        spec: { selector: { app: 'app' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
      });
      await kube.create(apiPath('apps/v1', 'statefulsets', n), {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'app' },
        spec: {
          serviceName: 'app',
          replicas: 2,
          selector: { matchLabels: { app: 'app' } },
          template: {
            metadata: { labels: { app: 'app' } },
            spec: {
              terminationGracePeriodSeconds: 10,
              containers: [
                {
                  name: 'app',
                  image: APP_IMAGE,
                  env: [
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                    { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'color' } } },
                    { name: 'PEER_URL', value: 'http://$(POD_NAME).app.$(POD_NAMESPACE).svc:8080' },
                    { name: 'ESCAPED', value: '$$(POD_NAME) $(UNDEFINED_VAR)' },
                  ],
                  ports: [{ name: 'http', containerPort: 8080 }],
                  startupProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1, failureThreshold: 30 },
                  readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1 },
                  livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2, failureThreshold: 5 },
                  volumeMounts: [
                    { name: 'data', mountPath: '/data' },
                    { name: 'config', mountPath: '/etc/app-config', readOnly: true },
                  ],
                },
              ],
              volumes: [{ name: 'config', configMap: { name: 'app-config' } }],
            },
          },
          volumeClaimTemplates: [
            { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
          ],
        },
      });
      await waitFor('StatefulSet 2/2 ready', 120_000, async () => {
        const sts = await kube.get(apiPath('apps/v1', 'statefulsets', n, 'app'));
        return sts.status?.readyReplicas === 2 ? true : undefined;
      });
    });

    after(async function () {
      this.timeout(120_000);
      await ns?.remove(90_000);
    });

    it('runs each pod Ready on its own IP, with bound volumes', async () => {
      const pods = await Promise.all(['app-0', 'app-1'].map((p) => readyPod(kube, ns.name, p)));
      const ips = pods.map((p) => p.status.podIP as string);
      assert.notEqual(ips[0], ips[1]);
      for (const [i, p] of pods.entries()) {
        assert.ok(ips[i]!.startsWith(`${cluster.subnet.prefix}.`), ips[i]);
        assert.equal(p.status.phase, 'Running');
        assert.equal(p.status.containerStatuses[0].ready, true);
        assert.equal(p.status.containerStatuses[0].started, true, 'startup probe passed');
        assert.equal(p.status.containerStatuses[0].restartCount, 0);
        assert.ok(p.status.containerStatuses[0].state.running);
        assert.ok(cluster.nodes.includes(p.spec.nodeName));
        const pvc = await kube.get(apiPath('v1', 'persistentvolumeclaims', ns.name, `data-${p.metadata.name}`));
        assert.equal(pvc.status.phase, 'Bound');
      }
    });

    it('gives the process its env (downward API, configMapKeyRef, $(VAR) expansion) and hostname', async () => {
      const pod = await kube.get(apiPath('v1', 'pods', ns.name, 'app-0'));
      const info = await json<{ hostname: string; env: Record<string, string> }>(`http://${pod.status.podIP}:8080/env`);
      assert.equal(info.hostname, 'app-0');
      assert.equal(info.env.POD_NAME, 'app-0');
      assert.equal(info.env.POD_NAMESPACE, ns.name);
      assert.equal(info.env.POD_IP, pod.status.podIP);
      assert.equal(info.env.NODE_NAME, pod.spec.nodeName);
      assert.equal(info.env.COLOR, 'blue');
      assert.equal(info.env.PEER_URL, `http://app-0.app.${ns.name}.svc:8080`);
      assert.equal(info.env.ESCAPED, '$(POD_NAME) $(UNDEFINED_VAR)');
      assert.equal(info.env.KUBERNETES_SERVICE_HOST, cluster.gateway);
    });

    it('resolves the stable DNS names inside pods and on the host', async () => {
      const p0 = await kube.get(apiPath('v1', 'pods', ns.name, 'app-0'));
      const p1 = await kube.get(apiPath('v1', 'pods', ns.name, 'app-1'));
      const fqdn = `app-1.app.${ns.name}.svc.cluster.local`;
      for (const name of [fqdn, 'app-1.app', `app-1.app.${ns.name}.svc`]) {
        const r = await json<{ addresses?: string[] }>(`http://${p0.status.podIP}:8080/dns?name=${name}`);
        assert.deepEqual(r.addresses, [p1.status.podIP], name);
      }
      const all = await json<{ addresses?: string[] }>(`http://${p0.status.podIP}:8080/dns?name=app`);
      assert.deepEqual([...(all.addresses ?? [])].sort(), [p0.status.podIP, p1.status.podIP].sort());
      const missing = await request(`http://${p0.status.podIP}:8080/dns?name=app-7.app`);
      assert.equal(missing.status, 404);
      // On the host, through the dns.lookup patch (dns-preload).
      const { address } = await dns.promises.lookup(`app-0.app.${ns.name}.svc.cluster.local`);
      assert.equal(address, p0.status.podIP);
      const viaName = await request(`http://app-1.app.${ns.name}.svc:8080/ready`);
      assert.equal(viaName.status, 200);
    });

    it('serves a ClusterIP Service (port 80 -> targetPort 8080) to pods and to the host', async () => {
      const svc = await kube.get(apiPath('v1', 'services', ns.name, 'app-client'));
      const p0 = await kube.get(apiPath('v1', 'pods', ns.name, 'app-0'));
      const resolved = await json<{ addresses?: string[] }>(`http://${p0.status.podIP}:8080/dns?name=app-client`);
      assert.deepEqual(resolved.addresses, [svc.spec.clusterIP]);
      const inPod = await json<{ status: number; body: string }>(`http://${p0.status.podIP}:8080/fetch?url=http://app-client/ready`);
      assert.deepEqual(inPod, { status: 200, body: 'ok' });
      assert.equal((await request(`http://app-client.${ns.name}.svc/ready`)).status, 200);
      const api = await json<{ addresses?: string[] }>(`http://${p0.status.podIP}:8080/dns?name=kubernetes.default.svc.cluster.local`);
      const kubernetesSvc = await kube.get(apiPath('v1', 'services', 'default', 'kubernetes'));
      assert.deepEqual(api.addresses, [kubernetesSvc.spec.clusterIP]);
    });

    it('lets an in-cluster client reach the API server with the projected service-account token', async () => {
      const p0 = await kube.get(apiPath('v1', 'pods', ns.name, 'app-0'));
      const r = await json<{ status: number; body: string }>(`http://${p0.status.podIP}:8080/k8s?path=/api/v1/namespaces/${ns.name}/pods/app-1`);
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).metadata.name, 'app-1');
      const denied = await json<{ status: number }>(`http://${p0.status.podIP}:8080/k8s?path=/api/v1/namespaces/${ns.name}/secrets`);
      assert.equal(denied.status, 403);
      // The files @kubernetes/client-node's loadFromCluster() reads.
      const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
      assert.equal((await request(`http://${p0.status.podIP}:8080/read?path=${sa}/namespace`)).body, ns.name);
      assert.match((await request(`http://${p0.status.podIP}:8080/read?path=${sa}/ca.crt`)).body, /BEGIN CERTIFICATE/);
      assert.match((await request(`http://${p0.status.podIP}:8080/read?path=${sa}/token`)).body, /^ey/);
    });

    it('keeps configMap volumes in sync with the ConfigMap', async () => {
      const p0 = await kube.get(apiPath('v1', 'pods', ns.name, 'app-0'));
      const url = `http://${p0.status.podIP}:8080/read?path=/etc/app-config/greeting`;
      assert.equal((await request(url)).body, 'v1');
      await kube.patch(apiPath('v1', 'configmaps', ns.name, 'app-config'), { data: { greeting: 'v2' } });
      await waitFor('configMap update in the pod', 20_000, async () => ((await request(url)).body === 'v2' ? true : undefined));
    });

    it('honours a PodDisruptionBudget on eviction (disruption controller)', async () => {
      const pdbPath = apiPath('policy/v1', 'poddisruptionbudgets', ns.name, 'app');
      await kube.create(apiPath('policy/v1', 'poddisruptionbudgets', ns.name), {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'app' },
        spec: { minAvailable: 2, selector: { matchLabels: { app: 'app' } } },
      });
      const evict = (): Promise<KObject> =>
        kube.create(`${apiPath('v1', 'pods', ns.name, 'app-1')}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'app-1', namespace: ns.name } });
      await waitFor('PDB observed', 30_000, async () => {
        const pdb = await kube.get(pdbPath);
        return pdb.status?.currentHealthy === 2 && pdb.status?.observedGeneration === pdb.metadata.generation ? pdb : undefined;
      });
      await assert.rejects(evict(), (e: unknown) => e instanceof KubeError && e.status === 429 && /disruption budget/.test(e.message));
      await kube.patch(pdbPath, { spec: { minAvailable: 1 } });
      await waitFor('PDB allows one disruption', 30_000, async () => ((await kube.get(pdbPath)).status?.disruptionsAllowed === 1 ? true : undefined));
      const old = await kube.get(apiPath('v1', 'pods', ns.name, 'app-1'));
      await evict();
      await readyPod(kube, ns.name, 'app-1', old.metadata.uid);
      await kube.delete(pdbPath);
    });

    it('keeps the volume across a pod deletion, and the program sees SIGTERM', async () => {
      const old = await readyPod(kube, ns.name, 'app-0');
      const put = await request(`http://${old.status.podIP}:8080/file?name=hello.txt`, 'PUT', `written by ${old.metadata.uid}`);
      assert.equal(put.status, 200);
      const t0 = Date.now();
      await kube.delete(apiPath('v1', 'pods', ns.name, 'app-0'));
      // The runner finalizes the pod once its process exited (well before the 10 s grace period).
      await waitFor('old app-0 gone', 30_000, async () => {
        const p = await kube.find(apiPath('v1', 'pods', ns.name, 'app-0'));
        return p?.metadata.uid !== old.metadata.uid ? true : undefined;
      });
      assert.ok(Date.now() - t0 < 9000, `graceful stop took ${Date.now() - t0} ms`);
      const fresh = await readyPod(kube, ns.name, 'app-0', old.metadata.uid);
      const file = await request(`http://${fresh.status.podIP}:8080/file?name=hello.txt`);
      assert.equal(file.body, `written by ${old.metadata.uid}`);
      const sigterm = await request(`http://${fresh.status.podIP}:8080/file?name=sigterm.log`);
      assert.match(sigterm.body, /^SIGTERM app-0 /m);
      const boots = (await request(`http://${fresh.status.podIP}:8080/file?name=boot.log`)).body.trim().split('\n');
      assert.equal(boots.length, 2);
    });
  });

  describe('probes, restarts, init containers, grace period', () => {
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    before(async () => {
      ns = await createNamespace(kube, 'probe');
    });
    after(async function () {
      this.timeout(120_000);
      await ns?.remove(90_000);
    });

    it('restarts a crashing container per restartPolicy and reports its last state', async () => {
      await kube.create(apiPath('v1', 'pods', ns.name), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'crasher' },
        spec: {
          restartPolicy: 'Always',
          containers: [{ name: 'c', image: 'busybox:1.36', command: ['sh', '-c', 'echo boom; exit 3'] }],
        },
      });
      // Two restarts, seen while it waits in back-off (between attempts it runs, and with no
      // readiness probe a running container counts as ready, as on a real kubelet).
      const pod = await waitFor('two restarts, then back-off', 60_000, async () => {
        const p = await kube.get(apiPath('v1', 'pods', ns.name, 'crasher'));
        const cs = p.status?.containerStatuses?.[0];
        return (cs?.restartCount ?? 0) >= 2 && cs?.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
      });
      const cs = pod.status.containerStatuses[0];
      assert.equal(cs.lastState.terminated.exitCode, 3);
      assert.equal(cs.lastState.terminated.reason, 'Error');
      assert.equal(cs.ready, false);
      assert.equal(isReady(pod), false);
      assert.equal(pod.status.phase, 'Running');
    });

    it('runs init containers first, and exec readiness probes inside the container', async () => {
      await kube.create(apiPath('v1', 'pods', ns.name), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'exec-probe' },
        spec: {
          terminationGracePeriodSeconds: 5,
          initContainers: [{ name: 'init', image: 'busybox:1.36', command: ['sh', '-c', 'echo from-init > /scratch/init.txt'], volumeMounts: [{ name: 'work', mountPath: '/scratch' }] }],
          containers: [
            {
              name: 'app',
              image: APP_IMAGE,
              env: [{ name: 'DATA_DIR', value: '/scratch' }],
              readinessProbe: { exec: { command: ['sh', '-c', 'test ! -e /scratch/not-ready'] }, periodSeconds: 1 },
              volumeMounts: [{ name: 'work', mountPath: '/scratch' }],
            },
          ],
          volumes: [{ name: 'work', emptyDir: {} }],
        },
      });
      const pod = await readyPod(kube, ns.name, 'exec-probe');
      assert.equal(pod.status.initContainerStatuses[0].state.terminated.exitCode, 0);
      const ip = pod.status.podIP as string;
      // Ready comes from the exec probe alone, so the server may still be starting.
      const init = await waitFor('app listening', 20_000, async () => (await request(`http://${ip}:8080/file?name=init.txt`)).body);
      assert.equal(init, 'from-init\n');
      await request(`http://${ip}:8080/file?name=not-ready`, 'PUT', 'x');
      await waitFor('NotReady after the exec probe fails', 20_000, async () =>
        isReady(await kube.get(apiPath('v1', 'pods', ns.name, 'exec-probe'))) ? undefined : true,
      );
    });

    it('kills a container that ignores SIGTERM after the grace period, then removes the pod', async () => {
      await kube.create(apiPath('v1', 'pods', ns.name), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'stubborn' },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{ name: 'c', image: 'busybox:1.36', command: ['sh', '-c', 'trap "echo ignoring TERM" TERM; while true; do sleep 0.2; done'] }],
        },
      });
      await readyPod(kube, ns.name, 'stubborn');
      const t0 = Date.now();
      await kube.delete(apiPath('v1', 'pods', ns.name, 'stubborn'));
      await waitFor('stubborn gone', 20_000, async () => ((await kube.find(apiPath('v1', 'pods', ns.name, 'stubborn'))) ? undefined : true));
      const took = Date.now() - t0;
      assert.ok(took >= 1900 && took < 8000, `took ${took} ms`);
    });
  });

  describe('helm', () => {
    let ns: Awaited<ReturnType<typeof createNamespace>>;
    const chart = join(E2E_DIR, 'k8s', 'testdata', 'chart');
    before(async () => {
      ns = await createNamespace(kube, 'helm');
    });
    after(async function () {
      this.timeout(120_000);
      await ns?.remove(90_000);
    });

    it('lints and renders the test chart', async () => {
      const lint = await runTool(cluster, 'helm', ['lint', chart]);
      assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      const tpl = await runTool(cluster, 'helm', ['template', 'r1', chart, '--set', 'message=rendered']);
      assert.match(tpl.stdout, /kind: Deployment/);
      assert.match(tpl.stdout, /message: "rendered"/);
    });

    it('installs it (--wait for a Ready Deployment), lists it and uninstalls it', async () => {
      await runTool(cluster, 'helm', ['install', 'hello', chart, '-n', ns.name, '--wait', '--timeout', '120s', '--set', 'message=installed']);
      const list = JSON.parse((await runTool(cluster, 'helm', ['list', '-n', ns.name, '-o', 'json'])).stdout) as Array<{ name: string; status: string }>;
      assert.deepEqual(list.map((r) => [r.name, r.status]), [['hello', 'deployed']]);
      const deploy = await kube.get(apiPath('apps/v1', 'deployments', ns.name, 'hello'));
      assert.equal(deploy.status.readyReplicas, 1);
      const pods = await kube.get<{ items: KObject[] }>(`${apiPath('v1', 'pods', ns.name)}?labelSelector=app.kubernetes.io/instance%3Dhello`);
      const info = await json<{ env: Record<string, string> }>(`http://${pods.items[0]!.status.podIP}:8080/env`);
      assert.equal(info.env.MESSAGE, 'installed');
      // The Service name resolves (to its ready endpoints) for processes on the host.
      assert.equal((await request(`http://hello.${ns.name}.svc:8080/ready`)).status, 200);
      await runTool(cluster, 'helm', ['uninstall', 'hello', '-n', ns.name, '--wait']);
      assert.equal(await kube.find(apiPath('apps/v1', 'deployments', ns.name, 'hello')), undefined);
    });
  });

  // Last, so that the garbage collector has discovered the Widget CRD created above (its discovery
  // of new resource types runs every 30 s, hard-coded in kube-controller-manager).
  describe('garbage collection of objects owned by a custom resource', () => {
    let gcns: Awaited<ReturnType<typeof createNamespace>>;
    const widgets = (n: string): string => `/apis/e2e.conclave.dev/v1/namespaces/${n}/widgets`;
    before(async () => {
      gcns = await createNamespace(kube, 'gc');
    });
    after(async function () {
      this.timeout(120_000);
      await gcns?.remove();
      await kube.delete('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.e2e.conclave.dev');
    });

    it('garbage-collects objects owned by a custom resource when it is deleted', async () => {
      const owner = await kube.create(widgets(gcns.name), { apiVersion: 'e2e.conclave.dev/v1', kind: 'Widget', metadata: { name: 'owner' }, spec: { replicas: 1 } });
      await kube.create(apiPath('v1', 'configmaps', gcns.name), {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'owned',
          ownerReferences: [{ apiVersion: 'e2e.conclave.dev/v1', kind: 'Widget', name: 'owner', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        data: { a: 'b' },
      });
      await kube.delete(`${widgets(gcns.name)}/owner`, { propagationPolicy: 'Foreground' });
      await waitFor('owned ConfigMap collected', 30_000, async () => ((await kube.find(apiPath('v1', 'configmaps', gcns.name, 'owned'))) ? undefined : true));
      await waitFor('owner gone', 30_000, async () => ((await kube.find(`${widgets(gcns.name)}/owner`)) ? undefined : true));
    });
  });
});
