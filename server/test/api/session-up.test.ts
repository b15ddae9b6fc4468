import assert from 'node:assert/strict';
import fc from 'fast-check';
import { publicPackageDefinition } from '@conclave/proto';
import type { SessionUp, SessionUp__Output } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import { sessionUpDeserializer } from '../../src/api/session-up.js';
import { NODE_KINDS } from '../../src/tree/tree.js';

/** proto-loader's own serializer and deserializer for the Session method: what the hand decoder must agree with. */
interface SessionMethod {
  requestSerialize(value: SessionUp): Buffer;
  requestDeserialize(bytes: Buffer): SessionUp__Output;
}
const method = (publicPackageDefinition()['conclave.v1.Conclave'] as unknown as { Session: SessionMethod }).Session;
let genericCalls = 0;
const generic = (message: Buffer) => {
  genericCalls++;
  return method.requestDeserialize(message);
};
const deserialize = sessionUpDeserializer(generic);

const u64 = fc.oneof(fc.constant(0), fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const i64 = fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 50), max: 2 ** 50 }));
const i32 = fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const path = fc.oneof(fc.constant(''), fc.constant('/a/b'), fc.string({ unit: 'grapheme', maxLength: 30 }));
const data = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const hot = fc.oneof(
  fc.record({ sessionId: u64, secret: data, timeoutMs: fc.integer({ min: 0, max: 2 ** 32 - 1 }), lastZxid: u64 }, { requiredKeys: [] }).map((connect) => ({ connect })),
  fc.constant({ ping: {} }),
  fc.constant({ close: {} }),
  fc.record({ path, data, kind: fc.constantFrom(...NODE_KINDS), ttlMs: i64, leaseId: u64, withStat: fc.boolean() }, { requiredKeys: [] }).map((create) => ({ create })),
  fc.record({ path, version: i32 }, { requiredKeys: [] }).map((d) => ({ delete: d })),
  fc.record({ path, watch: fc.boolean() }, { requiredKeys: [] }).map((exists) => ({ exists })),
  fc.record({ path, watch: fc.boolean() }, { requiredKeys: [] }).map((getData) => ({ getData })),
  fc.record({ path, data, version: i32 }, { requiredKeys: [] }).map((setData) => ({ setData })),
  fc.record({ path, watch: fc.boolean(), withStat: fc.boolean() }, { requiredKeys: [] }).map((getChildren) => ({ getChildren })),
  fc.record({ path }, { requiredKeys: [] }).map((sync) => ({ sync })),
);
/** requests left to proto-loader */
const other = fc.oneof(
  fc.record({ timeoutMs: fc.nat(100_000), sessionId: u64, watches: fc.record({ relativeZxid: u64, dataWatches: fc.array(path, { maxLength: 2 }) }) }).map((connect) => ({ connect })),
  fc.array(fc.record({ path }).map((d) => ({ delete: d })), { maxLength: 3 }).map((ops) => ({ multi: { ops } })),
  fc.record({ path, mode: fc.constantFrom('PERSISTENT_WATCH', 'PERSISTENT_RECURSIVE_WATCH') }).map((addWatch) => ({ addWatch })),
);
const request = (op: fc.Arbitrary<object>) => fc.tuple(u64, fc.boolean(), op).map(([id, linearizable, o]) => ({ id, linearizable, ...o }));

describe('SessionUp, decoded by hand', () => {
  it('gives the objects proto-loader gives, by hand for the common requests', () => {
    fc.assert(
      fc.property(fc.array(request(hot), { maxLength: 8 }), (requests) => {
        const message = method.requestSerialize({ requests } as SessionUp);
        const before = genericCalls;
        assert.deepEqual(deserialize(message), method.requestDeserialize(message));
        assert.equal(genericCalls, before, 'decoded by proto-loader');
      }),
      { numRuns: 500 },
    );
  });

  it('leaves a message with any other request to proto-loader', () => {
    fc.assert(
      fc.property(fc.array(request(hot), { maxLength: 3 }), request(other), fc.array(request(hot), { maxLength: 3 }), (head, odd, tail) => {
        const message = method.requestSerialize({ requests: [...head, odd, ...tail] } as SessionUp);
        const before = genericCalls;
        assert.deepEqual(deserialize(message), method.requestDeserialize(message));
        assert.equal(genericCalls, before + 1);
      }),
      { numRuns: 200 },
    );
  });

  it('leaves malformed bytes to proto-loader, which refuses them as before', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const message = Buffer.from(bytes);
        let expected: unknown;
        let refused = false;
        try {
          expected = method.requestDeserialize(message);
        } catch {
          refused = true;
        }
        if (refused) assert.throws(() => deserialize(message));
        else assert.deepEqual(deserialize(message), expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives data as a view into the message, as proto-loader does', () => {
    const message = method.requestSerialize({ requests: [{ id: 1, create: { path: '/a', data: Buffer.from('value') } }] });
    const data = deserialize(message).requests[0]!.create!.data;
    assert.equal(data.buffer, message.buffer);
  });
});
