import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batchEncoderOf, codec } from '../src/index.js';

type Response = Record<string, unknown>;

const down = codec<{ responses: Response[] }, { responses: Response[] }>('conclave.v1.SessionDown');
const encoder = batchEncoderOf<Response>('conclave.v1.SessionDown');

const response = fc.oneof(
  fc.record({ id: fc.nat(), zxid: fc.nat(), getData: fc.record({ data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), stat: fc.record({ version: fc.nat(), mzxid: fc.nat() }) }) }),
  fc.record({ id: fc.constant(0), zxid: fc.nat(), event: fc.record({ type: fc.constantFrom('NODE_CREATED', 'NODE_DELETED', 'NODE_DATA_CHANGED'), path: fc.string({ minLength: 1 }).map((s) => `/${s}`), zxid: fc.nat() }) }),
  fc.record({ id: fc.nat(), zxid: fc.nat(), getChildren: fc.record({ children: fc.array(fc.string(), { maxLength: 5 }) }) }),
  fc.record({ id: fc.nat(), zxid: fc.nat(), error: fc.record({ code: fc.constantFrom('NO_NODE', 'BAD_VERSION'), message: fc.string() }) }),
);

describe('batch encoder', () => {
  it('encodes what protobufjs encodes for the whole batch, items given as objects or as their encodings', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(response, fc.boolean()), { maxLength: 12 }), (items) => {
        const parts = items.map(([item, preEncoded]) => (preEncoded ? encoder.encodeItem(item) : item));
        const bytes = Buffer.from(encoder.serializeTransient(parts));
        assert.deepEqual(bytes, Buffer.from(down.encode({ responses: items.map(([item]) => item) })));
        assert.deepEqual(down.decode(bytes), down.decode(down.encode({ responses: items.map(([item]) => item) })));
      }),
    );
  });

  it('writes a batch larger than its buffer, and smaller ones after it', () => {
    const big = { id: 1, zxid: 2, getData: { data: Buffer.alloc(1024 * 1024, 7) } };
    const small = { id: 3, zxid: 4, ping: {} };
    for (const items of [[small], [big, small], [small]]) {
      const bytes = Buffer.from(encoder.serializeTransient(items));
      assert.deepEqual(bytes, Buffer.from(down.encode({ responses: items })));
    }
  });

  it('gives a view that its next call overwrites (the caller copies it at once, as gRPC does)', () => {
    const first = encoder.serializeTransient([{ id: 1, zxid: 1, ping: {} }]);
    const copy = Buffer.from(first);
    encoder.serializeTransient([{ id: 2, zxid: 2, ping: {} }]);
    assert.notDeepEqual(Buffer.from(first), copy);
  });

  it('refuses a message that is not a batch', () => {
    assert.throws(() => batchEncoderOf('conclave.v1.SessionResponse'), /not a batch message/);
  });
});
