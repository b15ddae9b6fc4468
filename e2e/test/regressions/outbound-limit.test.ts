/**
 * Regression (server): the limit on answers a client leaves unread (maxOutboundMessages) must
 * close only the streams of clients that stop reading, and closing one must not crash the member.
 *
 * Found by the benchmark (bench/, reads at 32,000 ops/s): api/session-stream.ts counted every
 * answer written and reset the count only on 'drain', which comes only after write() said no; a
 * session that read everything promptly was closed after 100,000 answers. Closing then recursed
 * (closeWith -> flush -> still over the limit -> closeWith ...) until the stack overflowed, and
 * all three members died within a second of each other. The sessionless Watch stream
 * (api/unary.ts) counted the same way.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { rawSession } from '../../harness/raw.js';

describe('regression: the outbound limit of session streams', function () {
  this.timeout(60_000);
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { maxOutboundMessages: 50, logLevel: 'warn' } });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a client that reads keeps its stream, however many answers it gets', async () => {
    const raw = await rawSession(cluster.endpoints(), {});
    try {
      let id = 2;
      for (let round = 0; round < 20; round++) {
        const requests = Array.from({ length: 100 }, () => ({ id: id++, exists: { path: '/' } }));
        raw.send(requests);
        await raw.response(id - 1);
      }
      const errors = raw.responses.filter((r) => r.error);
      assert.deepEqual(errors, [], 'no request failed and the stream was not closed');
      assert.equal(raw.responses.length, 1 + 2_000);
    } finally {
      raw.close();
    }
  });

  it('a client that stops reading has its stream closed; the member lives on', async () => {
    const client = await Conclave.connect({ endpoints: cluster.endpoints() });
    await client.create('/big', Buffer.alloc(256 * 1024, 1));
    const raw = await rawSession(cluster.endpoints(), {});
    try {
      raw.pause();
      raw.send(Array.from({ length: 300 }, (_, i) => ({ id: 2 + i, getData: { path: '/big' } })));
      await new Promise((r) => setTimeout(r, 2_000));
      raw.resume();
      assert.equal(await raw.nextError(), 'RESOURCE_EXHAUSTED');
      assert.ok(cluster.running(1), `the member died:\n${cluster.logTail(1)}`);
      assert.equal((await client.get('/big')).data.length, 256 * 1024, 'the member still answers');
    } finally {
      raw.close();
      await client.close();
    }
  });
});
