/**
 * Sessions on a member cut off from the quorum (semantics.md, sessions; api/context.ts
 * mayHoldSession): the leader expires a session whose member cannot pass its pings on, so a member
 * that has had no leader for a third of a session's timeout closes its stream with UNAVAILABLE and
 * refuses to take it back, and the client moves it to a member with a leader before it expires.
 * Without it, a session on a partitioned member expired once the partition outlasted its timeout,
 * though two of three members were up (a CI nemesis run, seed 1544129637, had one). Runs with
 * `npm run test:cluster`.
 */
import assert from 'node:assert/strict';
import { Conclave, type SessionState } from '@conclave/client';
import { rawSession } from '../../harness/raw.js';
import { NemesisCluster } from '../../nemesis/cluster.js';

const TIMEOUT_MS = 4_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([promise, sleep(ms).then(() => assert.fail(`${what} within ${ms} ms`))]);

describe('sessions on a member cut off from the quorum', function () {
  this.timeout(120_000);

  it('move to a member with a leader before they could expire; the cut-off member refuses them back', async () => {
    const cluster = await NemesisCluster.start({ members: 3 });
    try {
      await cluster.leader();
      const client = await Conclave.connect({ endpoints: cluster.endpoints(), sessionTimeoutMs: TIMEOUT_MS });
      await client.create('/owned', '', { kind: 'EPHEMERAL' });
      const states: SessionState[] = [];
      client.onState((state) => states.push(state));
      const cutOff = client.memberId;
      const others = cluster.current.filter((id) => id !== cutOff);
      // A raw session on the same member, to see the stream's end and the refusal themselves.
      const raw = await rawSession(cluster.endpoints([cutOff]), { timeoutMs: TIMEOUT_MS });
      const { sessionId, secret } = raw.connect.connect!;
      raw.send([{ id: 2, create: { path: '/raw', data: Buffer.from(''), kind: 'EPHEMERAL' } }]);
      const created = await raw.response(2);
      assert.ok(!created.error, `creating the raw session's node failed: ${created.error?.message}`);
      const pinger = setInterval(() => raw.send([{ id: 3, ping: {} }]), 500);

      const cutAt = Date.now();
      cluster.partition([[cutOff], others]);
      try {
        assert.equal(await within(raw.nextError(), TIMEOUT_MS, 'the cut-off member did not close the session\'s stream'), 'UNAVAILABLE');
        const closedAfter = Date.now() - cutAt;
        clearInterval(pinger);
        console.log(`      the cut-off member closed the session's stream ${closedAfter} ms after the partition`);
        assert.ok(closedAfter < TIMEOUT_MS, `the stream was closed ${closedAfter} ms after the partition, past the session timeout`);
        const back = await rawSession(cluster.endpoints([cutOff]), { sessionId, secret, timeoutMs: TIMEOUT_MS });
        assert.equal(back.connect.error?.code, 'UNAVAILABLE');
        assert.match(back.connect.error!.message, /has had no leader for \d+ ms/);
        back.close();
        const moved = await rawSession(cluster.endpoints([others[0]!]), { sessionId, secret, timeoutMs: TIMEOUT_MS });
        assert.ok(!moved.connect.error, `moving the session failed: ${moved.connect.error?.message}`);
        const keepAlive = setInterval(() => moved.send([{ id: 4, ping: {} }]), 500);

        await sleep(3 * TIMEOUT_MS);
        clearInterval(keepAlive);
        assert.notEqual(client.state, 'expired', `the client's session expired (states: ${states.join(', ')})`);
        assert.notEqual(client.memberId, cutOff, 'the client is still on the member without a leader');
        assert.ok(states.includes('disconnected'), `the client never left the member (states: ${states.join(', ')})`);
        assert.ok(await client.exists('/owned', { linearizable: true }), 'the client\'s ephemeral node is gone');
        assert.ok(await client.exists('/raw', { linearizable: true }), 'the moved raw session\'s ephemeral node is gone');
        moved.close();
      } finally {
        clearInterval(pinger);
        cluster.healNetwork(() => false);
      }
      raw.close();
      await client.close();
    } finally {
      await cluster.stop();
    }
  });
});
