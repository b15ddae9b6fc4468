/**
 * Semantics suite, part 3: every error code and limit, the unary API's parity with the session
 * stream, and the operational surface (health, reflection, metrics), against a real server.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { Conclave } from '@conclave/client';
import { loadPublicApi } from '@conclave/proto';
import { TestCluster } from '../../harness/cluster.js';
import { rawSession, unaryStubs } from '../../harness/raw.js';

const rejects = (promise: Promise<unknown>, code: string) => assert.rejects(promise, (e: { code?: string }) => e.code === code);

describe('semantics: errors, limits and the API surface (real server)', function () {
  let cluster: TestCluster;
  let client: Conclave;
  let stubs: ReturnType<typeof unaryStubs>;

  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { maxOutstandingPerSession: 50, maxWatchesPerSession: 10 } });
    client = await Conclave.connect({ endpoints: cluster.endpoints() });
    stubs = unaryStubs(cluster.endpoints());
  });
  after(async () => {
    stubs?.close();
    await client?.close();
    await cluster?.stop();
  });

  it('limits: 1,000 ops per multi, 4096-byte paths, 1 MiB data, outstanding requests per session', async () => {
    const ops = Array.from({ length: 1001 }, (_, i) => ({ op: 'check' as const, path: `/x${i}`, version: -1 }));
    await rejects(client.multi(ops), 'RESOURCE_EXHAUSTED');
    await rejects(client.create('/' + 'p'.repeat(4096)), 'INVALID_PATH');
    await rejects(client.create('/big', Buffer.alloc(1024 * 1024 + 1)), 'DATA_TOO_LARGE');
    const raw = await rawSession(cluster.endpoints(), {});
    raw.send([{ id: 2, sync: { path: '/' } }, ...Array.from({ length: 80 }, (_, i) => ({ id: 3 + i, exists: { path: '/' } }))]);
    const last = await raw.response(82);
    const codes = raw.responses.filter((r) => r.id >= 2).map((r) => r.error?.code ?? 'OK');
    assert.ok(codes.includes('RESOURCE_EXHAUSTED'), 'requests beyond the limit are refused');
    assert.ok(last);
    raw.close();
  });

  it('limits: watches per session, and sessions per cluster', async () => {
    const watcher = await Conclave.connect({ endpoints: cluster.endpoints() });
    for (let i = 0; i < 10; i++) await watcher.exists(`/limit-${i}`, { watch: () => undefined });
    await rejects(watcher.exists('/limit-10', { watch: () => undefined }), 'RESOURCE_EXHAUSTED');
    await rejects(watcher.addWatch('/limit-11', () => undefined), 'RESOURCE_EXHAUSTED');
    assert.equal(await watcher.exists('/limit-12'), null, 'reads without a watch still work');
    await watcher.close();
    const small = await TestCluster.start({ members: 1, settings: { maxSessions: 2 } });
    try {
      const a = await Conclave.connect({ endpoints: small.endpoints() });
      const b = await Conclave.connect({ endpoints: small.endpoints() });
      await assert.rejects(Conclave.connect({ endpoints: small.endpoints(), connectTimeoutMs: 1_000 }), /2 sessions, its limit/);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await small.stop();
    }
  });

  it('a message larger than 4 MiB is refused by the transport, and the server keeps serving', async () => {
    await assert.rejects(stubs.conclave.setData({ path: '/', data: Buffer.alloc(5 * 1024 * 1024) }), (e: { grpcCode?: number }) => e.grpcCode === grpc.status.RESOURCE_EXHAUSTED);
    assert.ok(await client.exists('/'));
  });

  it('bad input gets a typed error: unknown kinds, negative versions, huge ids, missing ops', async () => {
    await rejects(stubs.conclave.create({ path: '/k', kind: 99 }), 'INVALID_ARGUMENT');
    await rejects(stubs.conclave.setData({ path: '/', version: -7 }), 'INVALID_ARGUMENT');
    await rejects(stubs.conclave.create({ path: '/k', kind: 'EPHEMERAL', leaseId: '18446744073709551615' }), 'INVALID_ARGUMENT');
    await rejects(stubs.conclave.multi({ ops: [{}] }), 'INVALID_ARGUMENT');
    await rejects(stubs.conclave.getData({ path: '/', watch: true }), 'INVALID_ARGUMENT');
    const raw = await rawSession(cluster.endpoints(), {});
    raw.send([{ id: 2 }, { id: 3, removeWatches: { path: '/nowatch', type: 'DATA_WATCHER' } }]);
    assert.equal((await raw.response(2)).error?.code, 'INVALID_ARGUMENT');
    assert.equal((await raw.response(3)).error?.code, 'INVALID_ARGUMENT');
    raw.close();
    assert.ok(await client.exists('/'), 'still serving');
  });

  it('a session stream must start with a connect, and has only one', async () => {
    const stub = new (loadPublicApi().conclave.v1.Conclave)(cluster.endpoints(), grpc.credentials.createInsecure());
    const stream = stub.Session();
    const received: { error?: { code: string } | null }[] = [];
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (down: { responses: { error?: { code: string } | null }[] }) => received.push(...down.responses));
      stream.on('end', resolve);
      stream.on('error', () => resolve());
    });
    stream.write({ requests: [{ id: 1, ping: {} }] });
    await ended;
    stub.close();
    assert.equal(received[0]?.error?.code, 'INVALID_ARGUMENT');
    const raw = await rawSession(cluster.endpoints(), {});
    raw.send([{ id: 2, connect: {} }]);
    assert.equal((await raw.response(2)).error?.code, 'INVALID_ARGUMENT');
    raw.close();
  });

  it('unary methods give the same semantics, with the Conclave code in trailing metadata', async () => {
    const created = await stubs.conclave.create({ path: '/unary', data: Buffer.from('u'), withStat: true });
    assert.equal(created.path, '/unary');
    assert.equal(created.stat.version, 0);
    assert.equal((await stubs.conclave.getData({ path: '/unary' })).data.toString(), 'u');
    await rejects(stubs.conclave.create({ path: '/unary' }), 'NODE_EXISTS');
    await assert.rejects(stubs.conclave.getData({ path: '/nope' }), (e: { grpcCode?: number; code?: string }) => e.grpcCode === grpc.status.NOT_FOUND && e.code === 'NO_NODE');
    await rejects(stubs.conclave.setData({ path: '/unary', data: Buffer.from('x'), version: 4 }), 'BAD_VERSION');
    await rejects(stubs.conclave.multi({ ops: [{ create: { path: '/unary/a' } }, { delete: { path: '/none', version: -1 } }] }), 'NO_NODE');
    assert.equal((await stubs.conclave.exists({ path: '/unary/a' })).stat, null);
    await stubs.conclave.delete({ path: '/unary', version: 0 });
    assert.deepEqual((await stubs.conclave.sync({ path: '/' })).path, '/');
  });

  it('the sessionless Watch stream delivers persistent watch events', async () => {
    const call = stubs.conclave.watch({ watches: [{ path: '/w', mode: 'PERSISTENT_WATCH' }] });
    const events: { type: string }[] = [];
    call.on('data', (e: { type: string }) => events.push(e));
    call.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    await client.create('/w');
    await client.set('/w', '1');
    for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    call.cancel();
    assert.deepEqual(events.map((e) => e.type), ['NODE_CREATED', 'NODE_DATA_CHANGED']);
  });

  it('grpc.health.v1 reports SERVING, and server reflection lists the services', async () => {
    const require = createRequire(import.meta.url);
    const healthProto = require.resolve('grpc-health-check/proto/health/v1/health.proto');
    const health = grpc.loadPackageDefinition(protoLoader.loadSync(healthProto, { enums: String })) as never as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
    const client = new health.grpc.health.v1.Health(cluster.endpoints(), grpc.credentials.createInsecure());
    const status = await new Promise<{ status: string }>((resolve, reject) =>
      (client as never as { Check: (r: object, cb: (e: Error | null, v: { status: string }) => void) => void }).Check({ service: '' }, (e, v) => (e ? reject(e) : resolve(v))),
    );
    client.close();
    assert.equal(status.status, 'SERVING');
    const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const reflection = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto)) as never as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const rc = new reflection.grpc.reflection.v1.ServerReflection(cluster.endpoints(), grpc.credentials.createInsecure());
    const call = (rc as never as { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, { listServicesResponse?: { service: { name: string }[] } }> }).ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      call.on('data', (r) => resolve(r.listServicesResponse!.service.map((s: { name: string }) => s.name)));
      call.on('error', reject);
      call.write({ listServices: '' });
    });
    call.end();
    rc.close();
    for (const s of ['conclave.v1.Conclave', 'conclave.v1.Leases', 'conclave.v1.Cluster']) assert.ok(names.includes(s), `${s} in ${names.join()}`);
  });

  it('exports the metrics of semantics.md on /metrics, and /healthz, /readyz', async () => {
    const m = cluster.member(1);
    const text = await (await fetch(`http://127.0.0.1:${m.metricsPort}/metrics`)).text();
    for (const name of [
      'conclave_znodes', 'conclave_data_bytes', 'conclave_watches', 'conclave_sessions', 'conclave_ephemerals',
      'conclave_outstanding_requests', 'conclave_request_duration_seconds', 'conclave_has_leader', 'conclave_is_leader',
      'conclave_term', 'conclave_leader_changes_total', 'conclave_proposals_committed_total', 'conclave_proposals_applied_total',
      'conclave_proposals_pending', 'conclave_proposals_failed_total', 'conclave_wal_fsync_duration_seconds',
      'conclave_snapshot_duration_seconds', 'conclave_apply_lag',
    ]) assert.match(text, new RegExp(`^${name}`, 'm'), name);
    assert.match(text, /^conclave_is_leader 1$/m);
    assert.equal((await fetch(`http://127.0.0.1:${m.metricsPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${m.metricsPort}/readyz`)).status, 200);
  });

  it('cluster admin answers status and members', async () => {
    const status = await stubs.cluster.status({});
    assert.equal(status.role, 'LEADER');
    assert.equal(status.memberId, 1);
    assert.ok(status.appliedIndex > 0);
    const members = await stubs.cluster.members({});
    assert.equal(members.members.length, 1);
    assert.equal(members.clusterId, status.clusterId);
    await rejects(stubs.cluster.promoteMember({ id: 9 }), 'NO_NODE');
    await rejects(stubs.cluster.removeMember({ id: 1 }), 'INVALID_ARGUMENT');
  });
});
