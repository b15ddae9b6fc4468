// Unit tests of the pure parts of the local pod runner (part of `npm test`; no cluster needed).
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answer, buildDnsTable, DnsServer, parseQuery, RCODE } from '../k8s/dns.js';
import { clusterName } from '../k8s/dns-preload.js';
import type { KObject } from '../k8s/kube.js';
import {
  ConfigError, containerArgv, containerEnv, expand, formatMap, hostsFile, matchImage, parseQuantity, podField, resolvConf,
  substituteRule, type EnvContext, type ImageRule,
} from '../k8s/podspec.js';
import { probeAction, ProbeTracker, resolvePort } from '../k8s/probes.js';
import { backends } from '../k8s/proxy.js';
import { backoffDelay, podPhase, podStatus, shouldRestart, type ContainerView, type PodView } from '../k8s/status.js';
import { atomicWrite, downwardPayload, keyedPayload, objectData, type Payload } from '../k8s/volumes.js';

const pod = (spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): KObject => ({
  metadata: { name: 'web-0', namespace: 'prod', uid: 'u-1', labels: { app: 'web', tier: 'db' }, annotations: { note: 'a "quoted" value' }, ...meta },
  spec: { nodeName: 'node-2', serviceAccountName: 'sa', containers: [{ name: 'c', image: 'x' }], ...spec },
});

const ctx = (over: Partial<EnvContext> = {}): EnvContext => ({
  podIP: '10.200.0.5',
  hostIP: '10.200.0.1',
  nodeAllocatable: { cpu: '16', memory: '32Gi' },
  configMaps: new Map([['cm', { A: 'from-cm', 'bad-key!': 'x', B: 'b' }]]),
  secrets: new Map([['sec', { PASSWORD: 's3cret' }]]),
  serviceEnv: { KUBERNETES_SERVICE_HOST: '10.200.0.1', KUBERNETES_SERVICE_PORT: '443' },
  ...over,
});

describe('k8s runner: $(VAR) expansion (as the kubelet does it)', () => {
  const vars: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', VAR_EMPTY: '' };
  const lookup = (n: string): string | undefined => vars[n];
  const cases: Array<[string, string]> = [
    ['$(VAR_A)', 'A'],
    ['___$(VAR_B)___', '___B___'],
    ['$(VAR_A)-$(VAR_A)', 'A-A'],
    ['$(VAR_A)$(VAR_B)', 'AB'],
    ['$$(VAR_B)_$(VAR_A)', '$(VAR_B)_A'],
    ['$$$$$$(BIG_MONEY)', '$$$(BIG_MONEY)'],
    ['$(VAR_DNE)', '$(VAR_DNE)'],
    ['$(VAR_EMPTY)x', 'x'],
    ['$(VAR_A', '$(VAR_A'],
    ['$VAR_A', '$VAR_A'],
    ['f000-$$VAR_A', 'f000-$VAR_A'],
    ['$$', '$'],
    ['$', '$'],
    ['trailing $', 'trailing $'],
    ['$()', '$()'],
    ['no vars', 'no vars'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => assert.equal(expand(input, lookup), want));
  }
});

describe('k8s runner: container environment', () => {
  it('applies envFrom, then env in order with expansion against earlier entries and service variables', () => {
    const env = containerEnv(
      pod(),
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'cm' } }, { prefix: 'S_', secretRef: { name: 'sec' } }],
        env: [
          { name: 'FIRST', value: 'one' },
          { name: 'SECOND', value: '$(FIRST)-two-$(LATER)' },
          { name: 'LATER', value: 'late' },
          { name: 'API', value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' },
          { name: 'A', value: 'overridden' },
        ],
      } as unknown as KObject,
      ctx(),
    );
    const m = new Map(env);
    assert.equal(m.get('A'), 'overridden');
    assert.equal(m.get('B'), 'b');
    assert.equal(m.has('bad-key!'), false, 'invalid names from envFrom are skipped');
    assert.equal(m.get('S_PASSWORD'), 's3cret');
    assert.equal(m.get('SECOND'), 'one-two-$(LATER)', 'only variables defined before are expanded');
    assert.equal(m.get('API'), 'https://10.200.0.1:443');
    assert.equal(m.get('KUBERNETES_SERVICE_HOST'), '10.200.0.1');
    assert.deepEqual(env.slice(0, 3).map(([k]) => k), ['A', 'B', 'S_PASSWORD']);
  });

  it('resolves downward API fields', () => {
    const c = {
      name: 'c',
      env: [
        ['NAME', 'metadata.name'], ['NS', 'metadata.namespace'], ['UID', 'metadata.uid'], ['NODE', 'spec.nodeName'],
        ['SA', 'spec.serviceAccountName'], ['IP', 'status.podIP'], ['IPS', 'status.podIPs'], ['HOST', 'status.hostIP'],
        ['APP', "metadata.labels['app']"], ['NOTE', "metadata.annotations['note']"], ['NONE', "metadata.labels['missing']"],
      ].map(([name, fieldPath]) => ({ name, valueFrom: { fieldRef: { fieldPath } } })),
    } as unknown as KObject;
    assert.deepEqual(Object.fromEntries(containerEnv(pod(), c, ctx({ serviceEnv: {} }))), {
      NAME: 'web-0', NS: 'prod', UID: 'u-1', NODE: 'node-2', SA: 'sa', IP: '10.200.0.5', IPS: '10.200.0.5', HOST: '10.200.0.1',
      APP: 'web', NOTE: 'a "quoted" value', NONE: '',
    });
    assert.equal(podField(pod(), 'metadata.labels', ctx()), 'app="web"\ntier="db"');
    assert.throws(() => podField(pod(), 'spec.bogus', ctx()), ConfigError);
  });

  it('resolves resourceFieldRef with divisors, limits defaulting to node allocatable', () => {
    const c = {
      name: 'c',
      resources: { limits: { memory: '512Mi' }, requests: { cpu: '250m' } },
      env: [
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
        { name: 'CPU_REQ_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      ],
    } as unknown as KObject;
    const env = Object.fromEntries(containerEnv(pod({ containers: [c] }), c, ctx({ serviceEnv: {} })));
    assert.deepEqual(env, { MEM_MI: '512', CPU_REQ: '1', CPU_REQ_M: '250', CPU_LIMIT: '16' });
  });

  it('fails on a missing configMap or key unless optional', () => {
    const mk = (ref: Record<string, unknown>): KObject => ({ name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: ref } }] }) as unknown as KObject;
    assert.throws(() => containerEnv(pod(), mk({ name: 'nope', key: 'A' }), ctx()), /configmap "nope" not found/);
    assert.throws(() => containerEnv(pod(), mk({ name: 'cm', key: 'Z' }), ctx()), /couldn't find key Z/);
    assert.equal(new Map(containerEnv(pod(), mk({ name: 'nope', key: 'A', optional: true }), ctx())).has('X'), false);
    assert.throws(() => containerEnv(pod(), { name: 'c', envFrom: [{ secretRef: { name: 'nope' } }] } as unknown as KObject, ctx()), ConfigError);
  });
});

describe('k8s runner: images and argv', () => {
  const rules: ImageRule[] = [
    { match: 'conclave/server:*', entrypoint: ['node', '${REPO}/server/main.js'], cmd: ['--default'] },
    { match: 'busybox*', cmd: ['sh'] },
  ].map((r) => substituteRule(r, { REPO: '/repo' }));
  const env: Array<[string, string]> = [['POD', 'web-0'], ['PORT', '2281']];

  it('matches images by glob', () => {
    assert.equal(matchImage(rules, 'conclave/server:0.1.0')?.match, 'conclave/server:*');
    assert.equal(matchImage(rules, 'busybox')?.match, 'busybox*');
    assert.equal(matchImage(rules, 'docker.io/library/busybox:1'), undefined);
    assert.equal(matchImage(rules, 'conclave/server'), undefined);
  });

  it('computes argv like a container runtime (command replaces entrypoint and cmd; args replace cmd)', () => {
    const img = matchImage(rules, 'conclave/server:1');
    assert.deepEqual(containerArgv({ name: 'c' } as unknown as KObject, img, env), ['node', '/repo/server/main.js', '--default']);
    assert.deepEqual(containerArgv({ name: 'c', args: ['--id=$(POD)', '--port', '$(PORT)'] } as unknown as KObject, img, env), [
      'node', '/repo/server/main.js', '--id=web-0', '--port', '2281',
    ]);
    assert.deepEqual(containerArgv({ name: 'c', command: ['echo'] } as unknown as KObject, img, env), ['echo']);
    assert.deepEqual(containerArgv({ name: 'c', command: ['echo'], args: ['$(POD)'] } as unknown as KObject, img, env), ['echo', 'web-0']);
    assert.throws(() => containerArgv({ name: 'c', image: 'unknown' } as unknown as KObject, undefined, env), /no command for image unknown/);
  });

  it('parses quantities', () => {
    assert.equal(parseQuantity('500m'), 0.5);
    assert.equal(parseQuantity('2'), 2);
    assert.equal(parseQuantity('1Gi'), 2 ** 30);
    assert.equal(parseQuantity('1k'), 1000);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('1.5M'), 1.5e6);
    assert.throws(() => parseQuantity('lots'));
  });
});

describe('k8s runner: probes', () => {
  it('changes readiness only after successThreshold successes / failureThreshold failures', () => {
    const t = new ProbeTracker('readiness', { successThreshold: 2, failureThreshold: 3, periodSeconds: 1 });
    assert.equal(t.result, false);
    assert.equal(t.record(true), false);
    assert.equal(t.record(true), true);
    assert.equal(t.result, true);
    assert.equal(t.record(false), false);
    assert.equal(t.record(false), false);
    assert.equal(t.record(true), false, 'a success resets the failure run');
    assert.equal(t.record(false), false);
    assert.equal(t.record(false), false);
    assert.equal(t.record(false), true);
    assert.equal(t.result, false);
  });

  it('starts liveness as passing and startup as unknown; applies the default timing', () => {
    const l = new ProbeTracker('liveness', {});
    assert.equal(l.result, true);
    assert.deepEqual(l.timing, { initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 });
    assert.equal(new ProbeTracker('startup', { initialDelaySeconds: 4 }).firstDelay(), 4000);
    assert.equal(new ProbeTracker('startup', {}).result, undefined);
    l.record(false);
    l.record(false);
    assert.equal(l.record(false), true);
    assert.equal(l.result, false);
  });

  it('holds liveness/readiness until the startup probe passed, then stops the startup probe', () => {
    assert.equal(probeAction('startup', false), 'probe');
    assert.equal(probeAction('startup', true), 'stop');
    assert.equal(probeAction('liveness', false), 'skip');
    assert.equal(probeAction('readiness', false), 'skip');
    assert.equal(probeAction('liveness', true), 'probe');
    assert.equal(probeAction('readiness', true), 'probe');
  });

  it('resolves named and numeric ports', () => {
    assert.equal(resolvePort('http', { http: 8080 }), 8080);
    assert.equal(resolvePort(9090, {}), 9090);
    assert.equal(resolvePort('2281', {}), 2281);
    assert.throws(() => resolvePort('grpc', {}));
  });
});

describe('k8s runner: pod status', () => {
  const running = (name: string, ready: boolean): ContainerView => ({
    name, image: 'i', state: { kind: 'running', startedAt: 't0' }, ready, started: true, restartCount: 0,
  });
  const view = (containers: ContainerView[], over: Partial<PodView> = {}): PodView => ({
    pod: pod({ restartPolicy: 'Always' }, {}), podIP: '10.200.0.5', hostIP: '10.200.0.1', startTime: 't0', initialized: true, init: [], containers, ...over,
  });

  it('reports Ready and ContainersReady only when every container is ready', () => {
    const st = podStatus(view([running('a', true), running('b', false)]), 'now') as { phase: string; conditions: Array<{ type: string; status: string }>; podIP: string };
    assert.equal(st.phase, 'Running');
    assert.equal(st.podIP, '10.200.0.5');
    const cond = Object.fromEntries(st.conditions.map((c) => [c.type, c.status]));
    assert.equal(cond.Ready, 'False');
    assert.equal(cond.ContainersReady, 'False');
    assert.equal(cond.Initialized, 'True');
    assert.equal(cond.PodScheduled, 'True');
    const ok = podStatus(view([running('a', true)]), 'now') as { conditions: Array<{ type: string; status: string }> };
    assert.equal(ok.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('keeps lastTransitionTime of unchanged conditions', () => {
    const p = pod();
    p.status = { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 'earlier' }] };
    const st = podStatus(view([running('a', true)], { pod: p }), 'now') as { conditions: Array<{ type: string; lastTransitionTime: string }> };
    assert.equal(st.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime, 'earlier');
    assert.equal(st.conditions.find((c) => c.type === 'Initialized')?.lastTransitionTime, 'now');
  });

  it('derives the phase from container states and restartPolicy', () => {
    const done = (code: number): ContainerView => ({
      name: 'a', image: 'i', ready: false, started: false, restartCount: 0,
      state: { kind: 'terminated', exitCode: code, reason: code ? 'Error' : 'Completed', startedAt: 't', finishedAt: 't' },
    });
    const withPolicy = (restartPolicy: string, c: ContainerView[]): PodView => view(c, { pod: pod({ restartPolicy }) });
    assert.equal(podPhase(withPolicy('Never', [done(0)])), 'Succeeded');
    assert.equal(podPhase(withPolicy('Never', [done(1)])), 'Failed');
    assert.equal(podPhase(withPolicy('OnFailure', [done(0)])), 'Succeeded');
    assert.equal(podPhase(withPolicy('Always', [{ ...done(1), state: { kind: 'waiting', reason: 'CrashLoopBackOff' }, lastState: done(1).state }])), 'Running');
    assert.equal(podPhase(view([{ ...done(0), state: { kind: 'waiting', reason: 'ContainerCreating' } }])), 'Pending');
    assert.equal(podPhase(view([running('a', true)], { initialized: false })), 'Pending');
  });

  it('backs off exponentially up to a cap and restarts per policy', () => {
    assert.deepEqual([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 1000, 5000)), [1000, 2000, 4000, 5000, 5000]);
    assert.equal(shouldRestart('Always', 0), true);
    assert.equal(shouldRestart(undefined, 0), true);
    assert.equal(shouldRestart('OnFailure', 0), false);
    assert.equal(shouldRestart('OnFailure', 2), true);
    assert.equal(shouldRestart('Never', 2), false);
  });
});

describe('k8s runner: cluster DNS', () => {
  const svc = (name: string, extra: Record<string, unknown> = {}): KObject => ({ metadata: { name, namespace: 'prod' }, spec: { clusterIP: 'None', ...extra } });
  const slice = (svcName: string, endpoints: unknown[]): KObject => ({
    metadata: { name: `${svcName}-abc`, namespace: 'prod', labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    endpoints,
  });
  const table = buildDnsTable(
    [svc('web'), svc('empty'), svc('client', { clusterIP: '10.96.0.10' })],
    [
      slice('web', [
        { addresses: ['10.200.0.5'], hostname: 'web-0', conditions: { ready: true } },
        { addresses: ['10.200.0.6'], hostname: 'web-1', conditions: { ready: false } },
      ]),
      slice('client', [{ addresses: ['10.200.0.5'], conditions: { ready: true } }]),
      slice('orphan', [{ addresses: ['10.200.0.9'], conditions: { ready: true } }]),
    ],
  );

  it('publishes ready endpoints under the service name and pod hostnames under the service', () => {
    assert.deepEqual(table.get('web.prod.svc.cluster.local'), ['10.200.0.5']);
    assert.deepEqual(table.get('web-0.web.prod.svc.cluster.local'), ['10.200.0.5']);
    assert.equal(table.get('web-1.web.prod.svc.cluster.local'), undefined, 'not ready: not published');
    assert.deepEqual(table.get('empty.prod.svc.cluster.local'), []);
    assert.deepEqual(table.get('client.prod.svc.cluster.local'), ['10.96.0.10'], 'a ClusterIP service resolves to its ClusterIP');
    assert.equal(table.get('orphan.prod.svc.cluster.local'), undefined);
  });

  it('answers NXDOMAIN for unknown cluster names and REFUSED outside the zone', () => {
    const q = (name: string): ReturnType<typeof parseQuery> => ({ id: 1, flags: 0, name, qtype: 1, qclass: 1, questionEnd: 0 });
    assert.equal(answer(table, q('nope.prod.svc.cluster.local')).rcode, RCODE.NXDOMAIN);
    assert.equal(answer(table, q('example.com')).rcode, RCODE.REFUSED);
    assert.deepEqual(answer(table, { ...q('web.prod.svc.cluster.local'), qtype: 28 }), { rcode: RCODE.NOERROR, ips: [] });
  });

  it('serves the table to a real resolver over UDP', async () => {
    const server = new DnsServer();
    server.table = table;
    const port = 20000 + Math.floor(Math.random() * 20000);
    await server.listen('127.0.0.1', port);
    try {
      const r = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      assert.deepEqual(await r.resolve4('web-0.web.prod.svc.cluster.local'), ['10.200.0.5']);
      await assert.rejects(r.resolve4('web-9.web.prod.svc.cluster.local'), { code: 'ENOTFOUND' });
      await assert.rejects(r.resolve4('example.com'), { code: 'EREFUSED' });
    } finally {
      server.close();
    }
  });

  it('proxies a service port to the ready endpoints, by port name', () => {
    const s: KObject = {
      metadata: { name: 'client-x', namespace: 'prod', labels: { 'kubernetes.io/service-name': 'client' } },
      addressType: 'IPv4',
      ports: [{ name: 'grpc', port: 2281 }, { name: 'metrics', port: 9281 }],
      endpoints: [
        { addresses: ['10.200.0.5'], conditions: { ready: true } },
        { addresses: ['10.200.0.6'], conditions: { ready: false } },
      ],
    };
    assert.deepEqual(backends([s], 'prod', 'client', 'metrics'), [{ ip: '10.200.0.5', port: 9281 }]);
    assert.deepEqual(backends([s], 'prod', 'client', 'nope'), []);
    assert.deepEqual(backends([s], 'other', 'client', 'grpc'), []);
  });

  it('recognises cluster names for the host-side lookup patch', () => {
    assert.equal(clusterName('web-0.web.prod.svc'), 'web-0.web.prod.svc.cluster.local');
    assert.equal(clusterName('Web.Prod.svc.cluster.local.'), 'web.prod.svc.cluster.local');
    assert.equal(clusterName('localhost'), undefined);
  });
});

describe('k8s runner: pod files and volumes', () => {
  it('writes the hosts file and resolv.conf of a StatefulSet pod', () => {
    const p = pod({ hostname: 'web-0', subdomain: 'web' });
    assert.match(hostsFile(p, '10.200.0.5'), /^10\.200\.0\.5\tweb-0\.web\.prod\.svc\.cluster\.local\tweb-0$/m);
    assert.match(hostsFile(pod(), '10.200.0.5'), /^10\.200\.0\.5\tweb-0$/m);
    assert.equal(resolvConf(p, '10.200.0.1'), 'nameserver 10.200.0.1\nsearch prod.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:2\n');
  });

  it('selects configMap/secret keys and modes', () => {
    const data = objectData({ metadata: { name: 's' }, data: { a: Buffer.from('A').toString('base64'), b: Buffer.from('B').toString('base64') } }, 'secret');
    const all = keyedPayload({}, data, 0o644, 'secret s');
    assert.deepEqual([...all.keys()], ['a', 'b']);
    assert.equal(all.get('a')!.data.toString(), 'A');
    const some = keyedPayload({ items: [{ key: 'b', path: 'dir/b.txt', mode: 0o400 }] }, data, 0o644, 'secret s');
    assert.deepEqual([...some.entries()].map(([k, v]) => [k, v.data.toString(), v.mode]), [['dir/b.txt', 'B', 0o400]]);
    assert.throws(() => keyedPayload({}, undefined, 0o644, 'secret s'), /secret s not found/);
    assert.equal(keyedPayload({ optional: true }, undefined, 0o644, 'x').size, 0);
    const dw = downwardPayload(pod(), [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }], 0o644, ctx());
    assert.equal(dw.get('labels')!.data.toString(), 'app="web"\ntier="db"');
  });

  it('writes volumes atomically through ..data and removes stale keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    try {
      const p = (entries: Record<string, string>): Payload => new Map(Object.entries(entries).map(([k, v]) => [k, { data: Buffer.from(v), mode: 0o644 }]));
      atomicWrite(dir, p({ a: '1', 'sub/b': '2' }));
      assert.equal(readFileSync(join(dir, 'a'), 'utf8'), '1');
      assert.equal(readFileSync(join(dir, 'sub', 'b'), 'utf8'), '2');
      const first = readlinkSync(join(dir, '..data'));
      atomicWrite(dir, p({ a: '3' }));
      assert.equal(readFileSync(join(dir, 'a'), 'utf8'), '3');
      assert.equal(existsSync(join(dir, 'sub')), false);
      assert.equal(existsSync(join(dir, first)), false, 'the old version is removed');
      assert.equal(readlinkSync(join(dir, 'a')), '..data/a');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats maps like the downward API', () => {
    assert.equal(formatMap({ b: '2', a: 'x"y' }), 'a="x\\"y"\nb="2"');
  });
});
