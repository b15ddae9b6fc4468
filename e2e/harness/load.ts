#!/usr/bin/env node
/**
 * A simple load generator: starts a fresh cluster of N members on loopback (fsync on) and drives it
 * with S sessions x K requests in flight of 100-byte writes or reads over 1,000 keys, printing
 * ops/s and latency percentiles, overall and by the role of the member each session is on (session
 * i on member i mod N, as bench/ spreads them). The side-by-side benchmark against ZooKeeper and
 * etcd is bench/.
 *
 *   node e2e/dist/harness/load.js [--members 1] [--seconds 10] [--sessions 8] [--inflight 8]
 */
import { Conclave } from '@conclave/client';
import { TestCluster } from './cluster.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Session {
  client: Conclave;
  /** 'leader' or 'follower': the role of the member the session is on */
  role: string;
}

function summary(latencies: number[], seconds: number) {
  latencies.sort((a, b) => a - b);
  return {
    opsPerSecond: Math.round(latencies.length / seconds),
    p50: percentile(latencies, 50).toFixed(2),
    p99: percentile(latencies, 99).toFixed(2),
    p999: percentile(latencies, 99.9).toFixed(2),
  };
}

async function phase(sessions: Session[], inflight: number, seconds: number, op: (c: Conclave, key: string) => Promise<unknown>) {
  const byRole = new Map<string, number[]>();
  const end = Date.now() + seconds * 1000;
  let errors = 0;
  await Promise.all(
    sessions.flatMap(({ client, role }) =>
      Array.from({ length: inflight }, async () => {
        if (!byRole.has(role)) byRole.set(role, []);
        const latencies = byRole.get(role)!;
        while (Date.now() < end) {
          const key = `/load/k${Math.floor(Math.random() * 1000)}`;
          const started = performance.now();
          try {
            await op(client, key);
            latencies.push(performance.now() - started);
          } catch {
            errors++;
          }
        }
      }),
    ),
  );
  const roles = Object.fromEntries([...byRole].map(([role, latencies]) => [`on ${role}`, summary([...latencies], seconds)]));
  return { ...summary([...byRole.values()].flat(), seconds), errors, ...(byRole.size > 1 ? roles : {}) };
}

const members = arg('members', 1);
const seconds = arg('seconds', 10);
const sessions = arg('sessions', 8);
const inflight = arg('inflight', 8);
const cluster = await TestCluster.start({ members, settings: { logLevel: 'warn' } });
try {
  const leader = await cluster.leader();
  const ids = [...cluster.members.keys()];
  const spread: Session[] = await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      const id = ids[i % ids.length]!;
      return { client: await Conclave.connect({ endpoints: cluster.endpoints([id]) }), role: id === leader ? 'leader' : 'follower' };
    }),
  );
  const clients = spread.map((s) => s.client);
  const value = Buffer.alloc(100, 7);
  await clients[0]!.create('/load');
  for (let i = 0; i < 1000; i += 100) {
    await clients[0]!.multi(Array.from({ length: 100 }, (_, j) => ({ op: 'create' as const, path: `/load/k${i + j}`, data: value })));
  }
  console.log(`${members} member(s), ${sessions} sessions x ${inflight} in flight, ${seconds} s per phase, 100 B values, fsync on`);
  console.log('writes (ms):', await phase(spread, inflight, seconds, (c, k) => c.set(k, value)));
  console.log('reads  (ms):', await phase(spread, inflight, seconds, (c, k) => c.get(k)));
  await Promise.all(clients.map((c) => c.close()));
} finally {
  await cluster.stop();
}
