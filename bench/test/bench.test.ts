/** Unit tests of the benchmark's own logic (no timing is asserted anywhere). */
import assert from 'node:assert/strict';
import { Histogram, median, summarize as latency } from '../src/stats.js';
import { areaOf, summarize, type CpuProfile } from '../src/profile.js';
import { makeConfig } from '../src/config.js';
import { markdownTable, medianRound, missingResults, renderMarkdown, type BenchResults } from '../src/report.js';
import { split } from '../src/pool.js';
import { barPanels, groupedBars } from '../src/svg.js';
import { throughputKey } from '../src/workloads.js';

describe('bench: histogram', () => {
  it('reads quantiles within 1% and merges', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 1000; i++) (i % 2 ? a : b).record(i * 10);
    const h = Histogram.from(a.toJSON()).merge(b);
    assert.equal(h.count, 1000);
    assert.ok(Math.abs(h.quantile(0.5) - 5000) / 5000 < 0.011);
    assert.ok(Math.abs(h.quantile(0.99) - 9900) / 9900 < 0.011);
    assert.equal(h.quantile(1), 10000);
    assert.equal(latency(new Histogram()).p99, 0);
    assert.equal(median([3, 1, 2]), 2);
  });

  it('splits sessions over workers round robin', () => {
    assert.deepEqual(split([1, 2, 3, 4, 5], 2), [[1, 3, 5], [2, 4]]);
    assert.deepEqual(split([1], 2), [[1]]);
  });
});

describe('bench: profile summary', () => {
  const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0, columnNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', '') },
      { id: 2, callFrame: frame('(idle)', '') },
      { id: 3, callFrame: frame('(garbage collector)', '') },
      { id: 4, callFrame: frame('encode', 'file:///x/node_modules/protobufjs/src/writer.js') },
      { id: 5, callFrame: frame('step', 'file:///x/server/dist/src/raft/raft.js') },
    ],
    startTime: 0,
    endTime: 5000,
    samples: [2, 3, 4, 4, 5, 2],
    timeDeltas: [0, 1000, 1000, 1000, 1000, 1000],
  };

  it('classifies frames by area', () => {
    assert.equal(areaOf(frame('x', 'node:internal/http2/core')), 'HTTP/2 + sockets (node core)');
    assert.equal(areaOf(frame('x', 'file:///w/server/dist/src/api/session-stream.js')), 'client session stream (api/session-stream)');
    assert.equal(areaOf(frame('x', 'file:///w/node_modules/@grpc/grpc-js/build/src/server.js')), 'gRPC (grpc-js)');
    assert.equal(areaOf(frame('SessionResponse$encode', '')), 'protobuf encode/decode (protobufjs)');
    assert.equal(areaOf(frame('writeBuffers', '')), 'native I/O calls (writev, fdatasync, ...)');
  });

  it('adds self time per function and area, inside the window only', () => {
    const all = summarize(profile);
    assert.equal(all.idleMs, 1);
    assert.deepEqual(all.areas.map((a) => a.area), ['protobuf encode/decode (protobufjs)', 'GC', 'Raft core (raft/*)']);
    assert.equal(all.functions[0]!.fn, 'encode');
    const windowed = summarize(profile, { fromUs: 2500, toUs: 4500 });
    assert.deepEqual(windowed.areas.map((a) => a.area), ['protobuf encode/decode (protobufjs)', 'Raft core (raft/*)']);
  });
});

describe('bench: report', () => {
  const config = makeConfig(true);
  const w = (ops: number) => ({ title: '', opsPerSec: ops, latency: { p50: 1, p99: 2, p999: 3, max: 4, mean: 1 } });
  const system = (name: string, factor: number) => ({
    system: name,
    version: '1',
    startedAt: '',
    loadAverageBefore: [1, 1, 1],
    workloads: {
      [throughputKey(1, config.headline)]: w(1000 * factor),
      failover: { title: '', value: 500 * factor, unit: 'ms', samples: [500 * factor] },
    },
  });
  const results: BenchResults = {
    startedAt: '2026-01-01T00:00:00.000Z',
    mode: 'short',
    command: 'npm run bench -- --short',
    machine: { nproc: 2, cpuModel: 'cpu', memoryGiB: 24, kernel: 'Linux', node: 'v20', java: 'java', hostname: 'h' },
    loadAverageBefore: [1, 1, 1],
    versions: { conclave: '0.1.0', zookeeper: '3.8.0', etcd: '3.4.23' },
    config,
    systems: { conclave: system('conclave', 2), zookeeper: system('zookeeper', 1) },
  };

  it('tabulates systems with the ratios to the anchors', () => {
    const table = markdownTable(results);
    assert.match(table, /Conclave ÷ ZooKeeper/);
    assert.match(table, /\| writes 100%, 8x8 \| \*\*2,000\*\* ops\/s.*\| 2\.00x ops\/s, 1\.00x p99 \|/);
    assert.match(renderMarkdown(results, 'the analysis'), /## Analysis\n\nthe analysis/);
  });

  it('lists the workloads that produced no result', () => {
    const missing = missingResults(results, false);
    assert.ok(missing.includes('conclave latency read'));
    assert.ok(!missing.some((m) => m.startsWith('conclave failover')));
  });

  it('reports the median round and the range of all rounds', () => {
    const rounds = [w(900), { title: '', error: 'lost the cluster' }, w(1200), w(1000)];
    const chosen = medianRound(rounds, 'ops');
    assert.equal(chosen.opsPerSec, 1000);
    assert.deepEqual(chosen.rounds, [900, null, 1200, 1000]);
    assert.equal(medianRound([w(900), w(1100)], 'ops').opsPerSec, 900, 'the lower of two: never the luckier round');
    assert.equal(medianRound([{ title: '', value: 30 }, { title: '', value: 10 }, { title: '', value: 20 }], 'value').value, 20);
    assert.equal(medianRound([{ title: '', value: 10 }, { title: '', value: 30 }], 'value').value, 30, 'for times the larger of two');
    assert.equal(medianRound([{ title: '', error: 'x' }], 'ops').error, 'x', 'every round failed: the failure is the result');
    assert.equal(medianRound([w(5)], 'ops').rounds, undefined, 'one round: nothing to range over');
    const table = markdownTable({ ...results, config: { ...config, rounds: 4 }, systems: { conclave: { ...results.systems.conclave!, workloads: { [throughputKey(1, config.headline)]: chosen } } } });
    assert.match(table, /\*\*1,000\*\* ops\/s.*\(4 rounds: 900-1,200, 1 failed\)/);
    assert.match(renderMarkdown({ ...results, config: { ...config, rounds: 4 } }, ''), /in 4 rounds .* each cell is the median round/);
  });

  it('draws SVG charts', () => {
    assert.match(groupedBars('t', 'ops/s', ['a', 'b'], ['conclave', 'etcd'], [[1, 2], [3, undefined]]), /^<svg[^>]*>.*<\/svg>\n$/s);
    assert.match(barPanels('t', [{ title: 'p', unit: 'ms', values: [{ label: 'zookeeper', value: 3 }] }]), /zookeeper/);
  });
});
