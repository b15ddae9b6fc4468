import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codec, enumValues } from '@conclave/proto';
import type { SessionDown, SessionDown__Output } from '@conclave/proto/gen/conclave/v1/SessionDown.js';
import type { SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import { encodeSessionResponse, serializeSessionDown } from '../../src/api/session-down.js';

/** protobufjs's generic codec: what the hand encoder must agree with once decoded. */
const generic = codec<SessionDown, SessionDown__Output>('conclave.v1.SessionDown');

const u64 = fc.oneof(fc.constant(0), fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const i64 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 50 }));
const i32 = fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const text = fc.oneof(fc.constant(''), fc.constant('/a/b'), fc.string({ unit: 'grapheme', maxLength: 30 }));
const data = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 70_000, maxLength: 70_100 })).map((a) => Buffer.from(a));
const stat = fc.record({
  czxid: u64, mzxid: u64, pzxid: u64, ctime: i64, mtime: i64, version: i32, cversion: i32, aversion: i32,
  ephemeralOwner: u64, dataLength: i32, numChildren: i32,
});
const maybeStat = fc.oneof(stat, fc.constant(null), fc.constant(undefined));
const errorCodes = Object.keys(enumValues('conclave.v1.ErrorCode'));
const error = fc.record({ code: fc.constantFrom(...errorCodes), message: text, path: text, opIndex: i32 });

/** The results the hand encoder writes, and some it leaves to protobufjs. */
const result = fc.oneof(
  fc.constant({ ping: {} }),
  fc.constant({ delete: {} }),
  fc.record({ path: text, stat: maybeStat }).map((create) => ({ create })),
  maybeStat.map((s) => ({ exists: { stat: s } })),
  fc.record({ data, stat: maybeStat }).map((getData) => ({ getData })),
  maybeStat.map((s) => ({ setData: { stat: s } })),
  fc.record({ children: fc.array(text, { maxLength: 5 }), stat: maybeStat }).map((getChildren) => ({ getChildren })),
  text.map((path) => ({ sync: { path } })),
  error.map((e) => ({ error: e })),
  fc.record({ sessionId: u64, secret: data, timeoutMs: fc.nat(100_000), memberId: fc.nat(7) }).map((connect) => ({ connect })),
  // protobufjs's: a failed multi with its per-op results, an event
  fc.record({ error, multi: fc.constant({ results: [{ error: { code: 'NO_NODE', message: 'x', path: '/x', opIndex: 0 } }] }) }),
  fc.record({ type: fc.constantFrom('NODE_CREATED', 'NODE_DELETED'), path: text, zxid: u64 }).map((event) => ({ event })),
);
const response = fc.tuple(u64, u64, result).map(([id, zxid, r]) => ({ id, zxid, ...r }) as SessionResponse);
/** an item as a stream gives it: an object, or already encoded */
const item = fc.tuple(response, fc.boolean());

describe('SessionDown, encoded by hand', () => {
  it('decodes as protobufjs decodes its own encoding of the same responses', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 8 }), (items) => {
        const responses = items.map(([r]) => r);
        const parts = items.map(([r, encoded]) => (encoded ? encodeSessionResponse(r) : r));
        const hand = generic.decode(Buffer.from(serializeSessionDown(parts)));
        assert.deepEqual(hand, generic.decode(generic.encode({ responses })));
      }),
      { numRuns: 500 },
    );
  });

  it('writes each batch over the last one: the result is valid until the next call', () => {
    const first = serializeSessionDown([{ id: 1, zxid: 2, ping: {} }]);
    const copy = Buffer.from(first);
    serializeSessionDown([{ id: 9, zxid: 9, delete: {} }]);
    assert.notDeepEqual(Buffer.from(first), copy);
    assert.deepEqual(generic.decode(copy).responses[0]!.ping, {});
  });

  it('writes an empty result as present (a oneof), and leaves zeros and empty strings out', () => {
    const bytes = serializeSessionDown([{ id: 0, zxid: 0, exists: { stat: null } }]);
    // items field (1), length 2; exists field (8), length 0
    assert.deepEqual([...bytes], [0x0a, 2, 0x42, 0]);
    assert.equal(generic.decode(Buffer.from(bytes)).responses[0]!.result, 'exists');
  });
});
