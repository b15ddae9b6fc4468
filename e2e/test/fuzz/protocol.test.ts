/**
 * The protocol fuzzer (e2e/fuzz/protocol.ts) against a real member: malformed values in every field
 * of every request of every client service, random session-stream batches, malformed peer frames,
 * garbage bytes on the client, peer and metrics ports. The member must answer every request with a
 * typed error (or success), close connections that carry garbage, never crash or hang, keep its
 * memory bounded, and still serve a normal client afterwards.
 *
 *   FUZZ_SEED=<n>      replay (each run prints its seed; fast-check shrinks a failure to a minimal request)
 *   FUZZ_SECONDS=<n>   the long run: keep fuzzing for n seconds (default: a few seconds, in npm test)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { badSessionErrors, call, encode, garbageArb, messageArb, methods, peerFramesArb, protoRoot, sendGarbage, sessionExchange, type Answer } from '../../fuzz/protocol.js';
import { seedFrom } from '../../nemesis/random.js';

const SEED = seedFrom('FUZZ_SEED');
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 0);
/** runs per property in the short run */
const SHORT = { requests: 150, sessions: 25, peer: 30, garbage: 40 };

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe(`protocol fuzzer (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, function () {
  this.timeout((SECONDS + 120) * 1000);
  let cluster: TestCluster;
  let client: grpc.Client;
  const tally = new Map<string, number>();
  let rssBefore = 0;
  const count = (answer: Answer, method?: string) => {
    let key = answer.kind === 'typed' ? `typed ${answer.code}` : answer.kind === 'ok' || answer.kind === 'hang' ? answer.kind : `${answer.kind} ${grpc.status[answer.status]}`;
    // A deadline (10 s) is not a failure on a loaded machine, but which method was that slow matters.
    if (answer.kind === 'transport' && answer.status === grpc.status.DEADLINE_EXCEEDED) key += ` (${method})`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  };
  const alive = () => cluster.running(1);
  /** Runs a property for FUZZ_SECONDS (long run) or `runs` times (short run). */
  const fuzz = async <T>(arb: fc.Arbitrary<T>, runs: number, predicate: (value: T) => Promise<boolean>) => {
    const deadline = Date.now() + (SECONDS * 1000) / 4;
    let round = 0;
    do {
      await fc.assert(fc.asyncProperty(arb, predicate), { seed: SEED + round++, numRuns: runs, endOnFailure: true });
    } while (Date.now() < deadline);
  };

  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { logLevel: 'warn' } });
    const m = cluster.member(1);
    client = new grpc.Client(`127.0.0.1:${m.clientPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
    rssBefore = rssMiB(m.process!.pid!);
  });

  after(async () => {
    client?.close();
    console.log(`      answers: ${[...tally].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
    if (cluster) {
      if (cluster.running(1)) console.log(`      member RSS: ${rssBefore.toFixed(0)} MiB before, ${rssMiB(cluster.member(1).process!.pid!).toFixed(0)} MiB after`);
      await cluster.stop();
    }
  });

  it('every request of every client method, with malformed fields: a typed answer, never a crash', async () => {
    const all = methods('conclave.v1');
    assert.ok(all.length >= 25, `found ${all.length} methods in the protos`);
    const requests = fc.oneof(
      ...all.map((m) => fc.tuple(fc.constant(m), fc.array(messageArb(m.request), { minLength: 1, maxLength: m.requestStream ? 3 : 1 }))),
    );
    await fuzz(requests, SHORT.requests, async ([m, values]) => {
      const answer = await call(client, m, values.map((v) => encode(m.request, v)));
      count(answer, m.name);
      if (answer.kind === 'untyped' || answer.kind === 'hang' || (answer.kind === 'typed' && answer.code === 'INTERNAL')) {
        throw new Error(`${m.path} answered ${JSON.stringify(answer)} to ${JSON.stringify(values).slice(0, 500)}`);
      }
      if (!alive()) throw new Error(`the member died on ${m.path} ${JSON.stringify(values).slice(0, 500)}:\n${cluster.logTail(1)}`);
      return true;
    });
  });

  it('session streams with random batches (before and after a connect): typed errors only', async () => {
    const SessionUp = protoRoot().lookupType('conclave.v1.SessionUp');
    const SessionRequest = protoRoot().lookupType('conclave.v1.SessionRequest');
    const connect = fc.record({ id: fc.constant(1), connect: fc.record({ timeoutMs: fc.constant(4_000) }) });
    const batch = fc.array(messageArb(SessionRequest), { maxLength: 6 });
    const exchange = fc.tuple(fc.boolean(), fc.array(batch, { minLength: 1, maxLength: 4 }));
    await fuzz(exchange, SHORT.sessions, async ([connectFirst, batches]) => {
      const first = connectFirst ? [encode(SessionUp, { requests: [fc.sample(connect, 1)[0]] })] : [];
      const { down, answer } = await sessionExchange(client, [...first, ...batches.map((requests) => encode(SessionUp, { requests }))], 300);
      count(answer);
      const bad = badSessionErrors(down);
      if (answer.kind === 'untyped' || bad.length > 0) throw new Error(`session stream: ${JSON.stringify(answer)} ${bad.join('; ')} for ${JSON.stringify(batches).slice(0, 500)}`);
      if (!alive()) throw new Error(`the member died on a session batch:\n${cluster.logTail(1)}`);
      return true;
    });
  });

  it('peer frames on the peer port, well-formed and malformed: refused or closed, never a crash', async () => {
    const port = cluster.member(1).peerPort;
    await fuzz(peerFramesArb, SHORT.peer, async (bytes) => {
      const how = await sendGarbage(port, bytes, 250);
      tally.set(`peer frames ${how}`, (tally.get(`peer frames ${how}`) ?? 0) + 1);
      if (how === 'refused' || !alive()) throw new Error(`peer port ${how} after ${bytes.subarray(0, 64).toString('hex')}:\n${cluster.logTail(1)}`);
      return true;
    });
  });

  it('garbage bytes on the client, peer and metrics ports: connections closed, the member lives', async () => {
    const m = cluster.member(1);
    const ports = [m.clientPort, m.peerPort, m.metricsPort];
    await fuzz(fc.tuple(fc.constantFrom(...ports), garbageArb), SHORT.garbage, async ([port, bytes]) => {
      const how = await sendGarbage(port, bytes, 250);
      tally.set(`garbage ${how}`, (tally.get(`garbage ${how}`) ?? 0) + 1);
      if (how === 'refused' || !alive()) throw new Error(`port ${port} ${how} after ${bytes.subarray(0, 64).toString('hex')}:\n${cluster.logTail(1)}`);
      return true;
    });
  });

  it('afterwards: alive, healthy, serving, memory bounded', async () => {
    assert.ok(alive(), cluster.logTail(1));
    const m = cluster.member(1);
    assert.equal((await fetch(`http://127.0.0.1:${m.metricsPort}/healthz`)).status, 200);
    const c = await Conclave.connect({ endpoints: cluster.endpoints() });
    await c.create('/after-fuzz', 'ok').catch((e: { code?: string }) => {
      if (e.code !== 'NODE_EXISTS') throw e;
    });
    assert.equal((await c.get('/after-fuzz')).data.toString().length > 0, true);
    await c.close();
    const rss = rssMiB(m.process!.pid!);
    assert.ok(rss < Math.max(600, rssBefore * 6), `RSS grew from ${rssBefore.toFixed(0)} to ${rss.toFixed(0)} MiB`);
  });
});
