import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codec, enumValues, publicPackageDefinition } from '@conclave/proto';
import type { SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import type { SessionDown, SessionDown__Output } from '@conclave/proto/gen/conclave/v1/SessionDown.js';
import { deserializeSessionDown, serializeSessionUp } from '../src/session-codec.js';

/** proto-loader's own serializer and deserializer for the Session method: what the hand codec must agree with. */
interface SessionMethod {
  requestSerialize(value: SessionUp): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseDeserialize(bytes: Buffer): SessionDown__Output;
}
const method = (publicPackageDefinition()['conclave.v1.Conclave'] as unknown as { Session: SessionMethod }).Session;
const down = codec<SessionDown, SessionDown__Output>('conclave.v1.SessionDown');

const u64 = fc.oneof(fc.constant(0), fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const i64 = fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 50), max: 2 ** 50 }));
const i32 = fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const text = fc.oneof(fc.constant(''), fc.constant('/a/b'), fc.string({ unit: 'grapheme', maxLength: 30 }));
const data = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 70_000, maxLength: 70_100 })).map((a) => Buffer.from(a));
const kinds = Object.keys(enumValues('conclave.v1.NodeKind'));

/** Requests as the client makes them (`op` naming the member), the hand-encoded kinds and others. */
const u32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
const hotRequest = fc.oneof(
  fc.record({ sessionId: u64, secret: data, timeoutMs: u32, lastZxid: u64, watches: fc.constant(null) }, { requiredKeys: [] }).map((connect) => ({ op: 'connect', connect })),
  fc.constant({ op: 'ping', ping: {} }),
  fc.constant({ op: 'close', close: {} }),
  fc.record({ path: text, data, kind: fc.constantFrom(...kinds), ttlMs: i64, leaseId: u64, withStat: fc.boolean() }, { requiredKeys: ['path'] }).map((create) => ({ op: 'create', create })),
  fc.record({ path: text, version: i32 }, { requiredKeys: ['path'] }).map((d) => ({ op: 'delete', delete: d })),
  fc.record({ path: text, watch: fc.boolean() }, { requiredKeys: ['path'] }).map((exists) => ({ op: 'exists', exists })),
  fc.record({ path: text, watch: fc.boolean() }, { requiredKeys: ['path'] }).map((getData) => ({ op: 'getData', getData })),
  fc.record({ path: text, data, version: i32 }, { requiredKeys: ['path'] }).map((setData) => ({ op: 'setData', setData })),
  fc.record({ path: text, watch: fc.boolean(), withStat: fc.boolean() }, { requiredKeys: ['path'] }).map((getChildren) => ({ op: 'getChildren', getChildren })),
  text.map((path) => ({ op: 'sync', sync: { path } })),
);
const otherRequest = fc.oneof(
  fc.record({ timeoutMs: fc.nat(100_000), sessionId: u64, watches: fc.record({ relativeZxid: u64, dataWatches: fc.array(text, { maxLength: 2 }) }) }).map((connect) => ({ op: 'connect', connect })),
  fc.array(text.map((path) => ({ delete: { path } })), { maxLength: 3 }).map((ops) => ({ op: 'multi', multi: { ops } })),
);
const request = (op: fc.Arbitrary<object>) => fc.tuple(u64, fc.boolean(), op).map(([id, linearizable, o]) => ({ id, linearizable, ...o }));

const stat = fc.record({
  czxid: u64, mzxid: u64, pzxid: u64, ctime: i64, mtime: i64, version: i32, cversion: i32, aversion: i32,
  ephemeralOwner: u64, dataLength: i32, numChildren: i32,
}, { requiredKeys: [] });
const maybeStat = fc.oneof(stat, fc.constant(null));
const error = fc.record({ code: fc.constantFrom(...Object.keys(enumValues('conclave.v1.ErrorCode'))), message: text, path: text, opIndex: i32 }, { requiredKeys: [] });
const result = fc.oneof(
  fc.constant({ ping: {} }),
  fc.constant({ delete: {} }),
  fc.constant({ close: {} }),
  fc.record({ path: text, stat: maybeStat }, { requiredKeys: [] }).map((create) => ({ create })),
  maybeStat.map((s) => ({ exists: { stat: s } })),
  fc.record({ data, stat: maybeStat }, { requiredKeys: [] }).map((getData) => ({ getData })),
  maybeStat.map((s) => ({ setData: { stat: s } })),
  fc.record({ children: fc.array(text, { maxLength: 5 }), stat: maybeStat }, { requiredKeys: [] }).map((getChildren) => ({ getChildren })),
  text.map((path) => ({ sync: { path } })),
  fc.record({ type: fc.constantFrom(...Object.keys(enumValues('conclave.v1.EventType'))), path: text, zxid: u64 }, { requiredKeys: [] }).map((event) => ({ event })),
  error.map((e) => ({ error: e })),
  fc.record({ error, setData: fc.record({ stat: maybeStat }) }),
  fc.record({ sessionId: u64, secret: data, timeoutMs: u32, memberId: u32 }, { requiredKeys: [] }).map((connect) => ({ connect })),
  // left to proto-loader: a multi
  fc.constant({ multi: { results: [{ delete: {} }] } }),
);
const response = fc.tuple(u64, u64, result).map(([id, zxid, r]) => ({ id, zxid, ...r }));

describe('client: the Session stream codec', () => {
  it('encodes requests that decode as proto-loader decodes its own encoding of them', () => {
    fc.assert(
      fc.property(fc.array(request(fc.oneof({ arbitrary: hotRequest, weight: 5 }, { arbitrary: otherRequest, weight: 1 })), { maxLength: 8 }), (requests) => {
        const up = { requests } as SessionUp;
        assert.deepEqual(method.requestDeserialize(serializeSessionUp(up)), method.requestDeserialize(method.requestSerialize(up)));
      }),
      { numRuns: 500 },
    );
  });

  it('writes the common requests by hand, zeros left out (proto-loader writes them)', () => {
    const up = { requests: [{ id: 1, op: 'getData', getData: { path: '/a', watch: false } }] } as SessionUp;
    const hand = serializeSessionUp(up);
    // requests (1) of 8 bytes: id (1) = 1; getData (7) of 4 bytes: path (1) "/a"; watch=false left out
    assert.deepEqual([...hand], [0x0a, 0x08, 0x08, 0x01, 0x3a, 0x04, 0x0a, 0x02, 0x2f, 0x61]);
    assert.ok(hand.length < method.requestSerialize(up).length);
    // a new session's connect: requests (1) of 7 bytes: id (1) = 1; connect (2) of 3 bytes: timeoutMs (3) = 5000
    const connect = { requests: [{ id: 1, op: 'connect', connect: { sessionId: 0, secret: Buffer.alloc(0), timeoutMs: 5000, lastZxid: 0, watches: null } }] } as SessionUp;
    assert.deepEqual([...serializeSessionUp(connect)], [0x0a, 0x07, 0x08, 0x01, 0x12, 0x03, 0x18, 0x88, 0x27]);
  });

  it('leaves data given as a string or an array to proto-loader', () => {
    for (const data of ['dmFsdWU=', [1, 2, 3]]) {
      const up = { requests: [{ id: 1, op: 'setData', setData: { path: '/a', data, version: 2 } }] } as unknown as SessionUp;
      assert.deepEqual(serializeSessionUp(up), method.requestSerialize(up));
    }
  });

  it('decodes responses into the objects proto-loader makes of them', () => {
    fc.assert(
      fc.property(fc.array(response, { maxLength: 8 }), (responses) => {
        const bytes = Buffer.from(down.encode({ responses } as SessionDown));
        assert.deepEqual(deserializeSessionDown(bytes), method.responseDeserialize(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves malformed responses to proto-loader, which refuses them as before', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const message = Buffer.from(bytes);
        let expected: unknown;
        let refused = false;
        try {
          expected = method.responseDeserialize(message);
        } catch {
          refused = true;
        }
        if (refused) assert.throws(() => deserializeSessionDown(message));
        else assert.deepEqual(deserializeSessionDown(message), expected);
      }),
      { numRuns: 1000 },
    );
  });
});
