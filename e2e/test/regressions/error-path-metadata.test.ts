/**
 * Regression (server): a unary request whose error names a path that is not printable ASCII must
 * get its typed error, not crash the member.
 *
 * Found by the protocol fuzzer (e2e/test/fuzz). api/status.ts toServiceError put the error's path
 * into the `conclave-path` trailing metadata as is; grpc-js refuses header values outside printable
 * ASCII by throwing, inside answer()'s promise chain: an unhandled rejection, which ends a Node
 * process. One GetData of "/a\nb" (or "/😀", or any control character) took the member down.
 */
import assert from 'node:assert/strict';
import { TestCluster } from '../../harness/cluster.js';
import { unaryStubs } from '../../harness/raw.js';

describe('regression: an error path that is not printable ASCII, in a unary answer', function () {
  this.timeout(30_000);

  it('answers INVALID_PATH (or NO_NODE) and the member lives on', async () => {
    const cluster = await TestCluster.start({ members: 1, settings: { logLevel: 'warn' } });
    const stubs = unaryStubs(cluster.endpoints());
    try {
      for (const path of ['/a\nb', '/a\u0001', '/😀', '/é', '/a\u0000b']) {
        const error = await stubs.conclave.getData({ path }).then(() => undefined, (e: { code: string }) => e);
        assert.ok(error, `GetData ${JSON.stringify(path)} succeeded`);
        assert.ok(['INVALID_PATH', 'NO_NODE'].includes(error.code), `GetData ${JSON.stringify(path)}: ${error.code}`);
        assert.ok(cluster.running(1), `the member died on GetData ${JSON.stringify(path)}:\n${cluster.logTail(1)}`);
      }
    } finally {
      stubs.close();
      await cluster.stop();
    }
  });
});
