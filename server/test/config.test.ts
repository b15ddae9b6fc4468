import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterIdOf, ConfigError, founders, idFromHostname, parseInitialCluster, resolveConfig } from '../src/config.js';

describe('server configuration', () => {
  const dirs: string[] = [];
  const file = (text: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-config-'));
    dirs.push(dir);
    const p = path.join(dir, 'conclave.yaml');
    writeFileSync(p, text);
    return p;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('takes defaults < config file < environment < flags', () => {
    const cfg = file('clientPort: 3000\npeerPort: 3001\nlogLevel: debug\n');
    const config = resolveConfig({ peerPort: '4001' }, { CONCLAVE_CLIENT_PORT: '4000', CONCLAVE_METRICS_PORT: '4002' }, cfg);
    assert.equal(config.clientPort, 4000);
    assert.equal(config.peerPort, 4001);
    assert.equal(config.metricsPort, 4002);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.snapshotCount, 100_000);
  });

  it('derives session timeout bounds from the tick (2 and 20 ticks)', () => {
    const config = resolveConfig({ tickMs: 500 }, {});
    assert.equal(config.minSessionTimeoutMs, 1_000);
    assert.equal(config.maxSessionTimeoutMs, 10_000);
  });

  it('refuses unknown settings, bad numbers and inconsistent bounds with a clear ConfigError', () => {
    assert.throws(() => resolveConfig({}, {}, file('clientPrt: 1\n')), /unknown setting clientPrt/);
    assert.throws(() => resolveConfig({ clientPort: 'abc' }, {}), ConfigError);
    assert.throws(() => resolveConfig({}, { CONCLAVE_JOIN: 'maybe' }), /true or false/);
    assert.throws(() => resolveConfig({ minSessionTimeoutMs: 9_000, maxSessionTimeoutMs: 1_000 }, {}), /exceeds/);
    assert.throws(() => resolveConfig({ id: 0 }, {}), /1\.\.65535/);
    assert.throws(() => resolveConfig({ logMemoryBytes: 1000 }, {}), /logMemoryBytes must be at least 1 MiB/);
    assert.equal(resolveConfig({}, { CONCLAVE_LOG_MEMORY_BYTES: '2097152' }).logMemoryBytes, 2 * 1024 * 1024);
  });

  it('derives the member id from a StatefulSet pod name', () => {
    assert.equal(idFromHostname('conclave-0'), 1);
    assert.equal(idFromHostname('my-cluster-12.my-cluster-peers.ns.svc'), 13);
    assert.throws(() => idFromHostname('laptop'), ConfigError);
  });

  it('parses the initial cluster, with default client addresses, and checks membership', () => {
    const members = parseInitialCluster('1=a:2882/a:2281,2=b:2882', 2281);
    assert.deepEqual(members.map((m) => [m.id, m.peerAddress, m.clientAddress]), [[1, 'a:2882', 'a:2281'], [2, 'b:2882', 'b:2281']]);
    assert.throws(() => parseInitialCluster('1=a', 2281), /bad initial cluster entry/);
    assert.throws(() => parseInitialCluster('1=a:1,1=b:1', 2281), /twice/);
    assert.equal(founders(resolveConfig({ id: 3, initialCluster: '1=a:1,2=b:1', join: true }, {})).length, 2);
  });

  it('gives every member the same cluster id, different for another token or membership', () => {
    const a = parseInitialCluster('1=a:1,2=b:1,3=c:1', 2281);
    assert.equal(clusterIdOf('t', a), clusterIdOf('t', [...a].reverse()));
    assert.notEqual(clusterIdOf('t', a), clusterIdOf('u', a));
    assert.notEqual(clusterIdOf('t', a), clusterIdOf('t', a.slice(0, 2)));
  });
});
