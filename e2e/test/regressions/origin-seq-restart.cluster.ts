/**
 * Regression (server): a restarted member must never hand a new request the outcome of a write it
 * took before it restarted.
 *
 * A member routes each applied write back to the request that sent it by (origin member,
 * origin_seq) (node.ts submitWrite / applyEntry, pipeline/pending.ts), and origin_seq restarts at 1
 * in every process. A write the member forwarded before a kill -9 that commits while it is down is
 * applied by it after the restart, when new requests already wait under the same numbers: the new
 * request gets the old outcome (another path, another session id), and its own outcome is dropped.
 *
 * Recipe (deterministic): the leader's link to follower F delayed, so F learns of commits late. A
 * client of F sends writes, which F forwards at once and the leader commits with the other
 * follower; F is killed before the entries reach it, and restarted; as soon as F knows the leader,
 * unary writes are sent to it (numbered 1, 2, ... again): the old entries reach F first.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { unaryStubs } from '../../harness/raw.js';
import { NemesisCluster } from '../../nemesis/cluster.js';

describe('regression: origin_seq reused after a member restarts', function () {
  this.timeout(120_000);
  let cluster: NemesisCluster;
  before(async () => {
    cluster = await NemesisCluster.start({ members: 3, settings: { logLevel: 'warn' } });
  });
  after(async () => cluster.stop());

  it('each write of a new session on the restarted member gets its own outcome', async () => {
    const leader = await cluster.leader();
    const follower = cluster.current.find((id) => id !== leader)!;
    const before = await Conclave.connect({ endpoints: cluster.endpoints([follower]), requestTimeoutMs: 20_000 });
    cluster.setLink(leader, follower, { kind: 'delay', delayMs: 1_500 });
    const old = Array.from({ length: 30 }, (_, i) => before.create(`/old-${i}`).catch(() => undefined));
    await new Promise((r) => setTimeout(r, 300)); // forwarded and committed, but not yet known to F
    await cluster.kill(follower);
    await Promise.all(old);
    await cluster.restart(follower);

    for (let i = 0; !(await cluster.status(follower))?.leader; i++) {
      assert.ok(i < 200, 'the restarted member never learned the leader');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stubs = unaryStubs(cluster.endpoints([follower]));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => stubs.conclave.create({ path: `/new-${i}` }).then((r: { path: string }) => r.path, (e: Error) => `error: ${e.message}`)),
    );
    stubs.close();
    const wrong = results.map((p, i) => [i, p] as const).filter(([i, p]) => p !== `/new-${i}` && !p.startsWith('error'));
    assert.deepEqual(wrong, [], 'creates answered with the outcome of writes taken before the restart');
    cluster.healNetwork();
    await before.close().catch(() => undefined);
  });
});
