import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

describe('the client library', () => {
  it('leaves protobufjs as it found it: other gRPC users in the process keep exact 64-bit values', async () => {
    await import('../src/index.js');
    const protobuf = createRequire(import.meta.url)('protobufjs') as { util: { Long: unknown } };
    assert.ok(protobuf.util.Long, 'protobufjs still decodes 64-bit integers as Long');
  });
});
