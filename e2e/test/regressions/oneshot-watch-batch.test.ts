/**
 * Regression (client): a one-shot watch set by a read must fire even when its event arrives in the
 * same SessionDown batch as the read's response.
 *
 * Found by the nemesis one-shot watcher (seed 1: "set at mzxid 3157: got NODE_DATA_CHANGED@3329,
 * first change is NODE_DATA_CHANGED@3161"). The client registers the callback only after the read's
 * promise resolves (client/src/client.ts, get/exists/getChildren: `await this.read(...)` then
 * `watches.addData(...)`), but it dispatches the events of a batch synchronously while reading the
 * batch, before that continuation runs: an event right behind the response finds no callback and is
 * dropped. The server had already consumed the one-shot watch, so it never fires (until a reconnect
 * re-arms it from the client's table, and it then fires for a later change).
 *
 * Recipe: pipeline set(a), get(watch), set(b) on one session. Both writes commit in one batch and are
 * applied in one loop; the read runs between them (FIFO), so its response and the event of set(b)
 * leave the member in the same batch.
 */
import assert from 'node:assert/strict';
import { Conclave, type WatchEvent } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';

describe('regression: one-shot watch whose event shares a batch with the read response', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ members: 1, settings: { logLevel: 'warn' } });
  });
  after(async () => cluster.stop());

  for (const kind of ['get', 'exists', 'getChildren'] as const) {
    it(`${kind} with a watch: the change right behind the read fires it`, async () => {
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      try {
        const path = `/batch-${kind}`;
        await client.create(path, 'v0');
        const events: WatchEvent[] = [];
        for (let round = 0; round < 20; round++) {
          const watch = (e: WatchEvent) => events.push(e);
          const change = kind === 'getChildren' ? () => client.create(`${path}/c${round}`) : () => client.set(path, `v${round}`);
          const first = change();
          const read = kind === 'get' ? client.get(path, { watch }) : kind === 'exists' ? client.exists(path, { watch }) : client.getChildren(path, { watch });
          const second = kind === 'getChildren' ? client.create(`${path}/d${round}`) : client.set(path, `w${round}`);
          await Promise.all([first, read, second]);
          await new Promise((r) => setTimeout(r, 50));
          assert.equal(events.length, round + 1, `round ${round}: the watch set by the read did not fire for the change behind it`);
        }
      } finally {
        await client.close();
      }
    });
  }
});
