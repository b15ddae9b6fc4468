// The desired-state builders are pure functions of the resource: names, labels, owner references,
// myid = ordinal + 1, the update strategy, the PDB quorum, the members' config file.
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  buildConfigMap,
  buildPodDisruptionBudget,
  buildStatefulSet,
  buildPeerService,
  buildClientService,
  buildPrometheusRule,
  configHash,
  desiredObjects,
  initialCluster,
  type KubeObject,
} from '../src/builders/index.js';
import { cluster } from './fixtures.js';

const ctx = { replicas: 3, founded: true, currentVoters: 3, serverImageRepository: 'conclave/server', monitoringApi: false };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const spec = (o: KubeObject): any => o.spec;

describe('operator builders', () => {
  it('builds every owned object, labelled and owned by the resource', () => {
    const c = cluster();
    const objects = desiredObjects(c, ctx);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), [
      'ServiceAccount/zk', 'ConfigMap/zk-config', 'Service/zk-peers', 'Service/zk', 'StatefulSet/zk', 'PodDisruptionBudget/zk',
    ]);
    for (const o of objects) {
      assert.equal(o.metadata.namespace, 'apps');
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'zk');
      assert.equal(o.metadata.labels?.['conclave.dev/cluster'], 'zk');
      assert.deepEqual(o.metadata.ownerReferences, [{ apiVersion: 'conclave.dev/v1alpha1', kind: 'CoordinationCluster', name: 'zk', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    }
  });

  it('is deterministic: the same input gives the same objects', () => {
    assert.deepEqual(desiredObjects(cluster(), ctx), desiredObjects(cluster(), ctx));
  });

  it('adds the ServiceMonitor and PrometheusRule only when asked and when the API exists', () => {
    const c = cluster({ metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } });
    assert.equal(desiredObjects(c, ctx).length, 6);
    const kinds = desiredObjects(c, { ...ctx, monitoringApi: true }).map((o) => o.kind);
    assert.deepEqual(kinds.slice(6), ['ServiceMonitor', 'PrometheusRule']);
  });

  it('StatefulSet: replicas from the controller, OnDelete, Parallel, stable peer names, id from the host name', () => {
    const sts = buildStatefulSet(cluster({ replicas: 5 }), { replicas: 2, serverImageRepository: 'conclave/server' });
    const s = spec(sts);
    assert.equal(s.replicas, 2, 'the operator grows the StatefulSet one member at a time');
    assert.deepEqual(s.updateStrategy, { type: 'OnDelete' });
    assert.equal(s.podManagementPolicy, 'Parallel');
    assert.equal(s.serviceName, 'zk-peers');
    assert.deepEqual(s.persistentVolumeClaimRetentionPolicy, { whenScaled: 'Retain', whenDeleted: 'Delete' });
    const container = s.template.spec.containers[0];
    assert.equal(container.image, 'conclave/server:1.0.0');
    assert.deepEqual(container.args, ['--config', '/etc/conclave/conclave.yaml']);
    assert.equal(container.command, undefined, 'the image entrypoint runs the server');
    assert.deepEqual(container.env[1], { name: 'CONCLAVE_ADVERTISE_HOST', value: '$(POD_NAME).zk-peers.apps.svc' });
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(s.template.spec.securityContext.runAsNonRoot, true);
    assert.equal(s.template.metadata.labels['conclave.dev/version'], '1.0.0');
    assert.deepEqual(s.selector.matchLabels, { 'app.kubernetes.io/name': 'conclave', 'app.kubernetes.io/instance': 'zk', 'conclave.dev/cluster': 'zk' });
    assert.equal(s.volumeClaimTemplates[0].spec.resources.requests.storage, '1Gi');
  });

  it('StatefulSet: spec.image overrides the repository; anti-affinity defaults to preferred', () => {
    const s = spec(buildStatefulSet(cluster({ image: 'registry.example/c:dev' }), { replicas: 3, serverImageRepository: 'x' }));
    assert.equal(s.template.spec.containers[0].image, 'registry.example/c:dev');
    assert.ok(s.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution);
    const required = spec(buildStatefulSet(cluster({ pod: { antiAffinity: 'Required' } }), { replicas: 3, serverImageRepository: 'x' }));
    assert.ok(required.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution);
    const none = spec(buildStatefulSet(cluster({ pod: { antiAffinity: 'None' } }), { replicas: 3, serverImageRepository: 'x' }));
    assert.equal(none.template.spec.affinity, undefined);
  });

  it('a server setting changes the pod template (a rolling restart), the join flag does not', () => {
    const a = cluster();
    const b = cluster({ config: { tickMs: 500 } });
    assert.notEqual(configHash(a), configHash(b));
    const sts = (founded: boolean) => desiredObjects(a, { ...ctx, founded }).find((o) => o.kind === 'StatefulSet');
    assert.deepEqual(sts(false), sts(true));
    assert.notDeepEqual(buildConfigMap(a, false).data, buildConfigMap(a, true).data);
  });

  it('config file: member 1 founds the cluster, the token is the uid, members join once founded', () => {
    const c = cluster({ config: { tickMs: 500, logLevel: 'debug' } });
    assert.equal(initialCluster(c), '1=zk-0.zk-peers.apps.svc:2882/zk-0.zk-peers.apps.svc:2281');
    const file = parse((buildConfigMap(c, false).data as Record<string, string>)['conclave.yaml']!);
    assert.equal(file.idFromHostname, true);
    assert.equal(file.clusterToken, 'uid-1');
    assert.equal(file.initialCluster, initialCluster(c));
    assert.equal(file.join, false);
    assert.equal(file.tickMs, 500);
    assert.equal(file.logLevel, 'debug');
    assert.equal(file.dataDir, '/var/lib/conclave/data');
    assert.equal(parse((buildConfigMap(c, true).data as Record<string, string>)['conclave.yaml']!).join, true);
  });

  it('PDB: minAvailable is a quorum of the larger of the desired and the current voters', () => {
    const min = (replicas: number, voters: number) => spec(buildPodDisruptionBudget(cluster({ replicas }), voters)).minAvailable;
    assert.equal(min(1, 1), 1);
    assert.equal(min(3, 3), 2);
    assert.equal(min(5, 5), 3);
    assert.equal(min(3, 5), 3, 'during a scale-down from 5 the cluster still needs 3');
    assert.equal(min(5, 3), 3);
    assert.equal(min(7, 0), 4);
  });

  it('Services: the peer one is headless and publishes not-ready members; the client one takes the spec type', () => {
    const peers = spec(buildPeerService(cluster()));
    assert.equal(peers.clusterIP, 'None');
    assert.equal(peers.publishNotReadyAddresses, true);
    assert.deepEqual(peers.ports.map((p: { port: number }) => p.port), [2882, 2281, 9281]);
    const client = buildClientService(cluster({ service: { type: 'LoadBalancer', annotations: { a: 'b' } } }));
    assert.equal(spec(client).type, 'LoadBalancer');
    assert.deepEqual(client.metadata.annotations, { a: 'b' });
  });

  it('alert rules cover no leader, a lagging member and slow fsync, scoped to the cluster', () => {
    const groups = spec(buildPrometheusRule(cluster())).groups;
    const rules = groups[0].rules as Array<{ alert: string; expr: string }>;
    for (const alert of ['ConclaveNoLeader', 'ConclaveMemberLagging', 'ConclaveSlowFsync']) {
      const rule = rules.find((r) => r.alert === alert);
      assert.ok(rule, alert);
      assert.match(rule.expr, /namespace="apps", service="zk-peers"/);
    }
  });
});
