import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codec } from '@conclave/proto';
import type { PeerBatch, PeerBatch__Output } from '@conclave/proto/gen/conclave/raft/v1/PeerBatch.js';
import { EntryType, MessageType, type Message } from '../../src/raft/types.js';
import { fromWire, toWire } from '../../src/transport/convert.js';
import { PeerBatchStrings, decodePeerBatch, encodePeerBatchPieces, PeerDecodeError, type PeerBatchData } from '../../src/transport/peer-codec.js';
import type { ErrorCode } from '../../src/errors.js';
import { assertRefusesOnlyWith, byContent } from '../wire-helpers.js';

/** A batch encoded in one buffer (no room, nothing gathered: a single piece). */
const encodePeerBatch = (b: PeerBatchData): Buffer => Buffer.concat(encodePeerBatchPieces(b, 0));

/** protobufjs's generic codec: what members of earlier versions used, and any other protobuf user. */
const generic = codec<PeerBatch, PeerBatch__Output>('conclave.raft.v1.PeerBatch');

const genericEncode = (b: PeerBatchData) =>
  generic.encode({
    clusterId: b.clusterId,
    from: b.from,
    to: b.to,
    fromAddress: b.fromAddress,
    pingMs: b.pingMs,
    messages: b.messages.map(toWire),
    touchedSessions: b.touchedSessions,
    forwards: b.forwards.map((f) => ({ originSeq: f.originSeq, txn: Buffer.from(f.txn) })),
    rejections: b.rejections.map((r) => ({ originSeq: r.originSeq, error: { code: r.code, message: r.message, path: '', opIndex: -1 } })),
  });

function genericDecode(bytes: Uint8Array): PeerBatchData {
  const b = generic.decode(bytes);
  return {
    clusterId: b.clusterId,
    from: b.from,
    to: b.to,
    fromAddress: b.fromAddress,
    pingMs: b.pingMs,
    messages: b.messages.map(fromWire),
    touchedSessions: b.touchedSessions,
    forwards: b.forwards.map((f) => ({ originSeq: f.originSeq, txn: f.txn })),
    rejections: b.rejections.map((r) => ({ originSeq: r.originSeq, code: r.error!.code as ErrorCode, message: r.error!.message })),
  };
}

const u64 = fc.oneof(fc.constant(0), fc.nat(300), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const u32 = fc.oneof(fc.constant(0), fc.nat(9), fc.integer({ min: 0, max: 0xffff_ffff }));
const bytes = fc.uint8Array({ maxLength: 40 });

const entry = fc.record({ term: u64, index: u64, type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange), data: bytes });
const message: fc.Arbitrary<Message> = fc
  .record({
    type: fc.integer({ min: MessageType.Hup, max: MessageType.PreVoteResp }) as fc.Arbitrary<MessageType>,
    to: u32,
    from: u32,
    term: u64,
    logTerm: u64,
    index: u64,
    entries: fc.array(entry, { maxLength: 4 }),
    commit: u64,
    snapshot: fc.option(fc.record({ index: u64, term: u64, conf: fc.record({ voters: fc.array(u32, { maxLength: 5 }), learners: fc.array(u32, { maxLength: 3 }) }) }), { nil: undefined }),
    reject: fc.boolean(),
    rejectHint: u64,
    context: fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }),
    commitOnly: fc.boolean(),
  })
  .map((m) => {
    const out: Message = { ...m };
    if (m.snapshot === undefined) delete out.snapshot;
    if (m.context === undefined) delete out.context;
    return out;
  });

const batch: fc.Arbitrary<PeerBatchData> = fc.record({
  clusterId: fc.string({ maxLength: 40, unit: 'grapheme' }),
  from: u32,
  to: u32,
  fromAddress: fc.oneof(fc.constant(''), fc.constant('127.0.0.1:2882'), fc.string({ unit: 'grapheme', maxLength: 20 })),
  pingMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 50 }), fc.integer({ min: -(2 ** 50), max: -1 })),
  messages: fc.array(message, { maxLength: 4 }),
  touchedSessions: fc.array(u64, { maxLength: 6 }),
  forwards: fc.array(fc.record({ originSeq: u64, txn: bytes }), { maxLength: 3 }),
  rejections: fc.array(fc.record({ originSeq: u64, code: fc.constantFrom<ErrorCode>('UNAVAILABLE', 'NOT_LEADER', 'NO_NODE'), message: fc.string({ maxLength: 20 }) }), { maxLength: 2 }),
});

const withoutUnknown = (b: ReturnType<typeof decodePeerBatch>) => {
  const { unknownMessages, ...rest } = b;
  assert.equal(unknownMessages, 0);
  return rest;
};

describe('transport: peer batch codec', () => {
  it('decodes what it encodes', () => {
    fc.assert(
      fc.property(batch, (b) => {
        assert.deepEqual(byContent(withoutUnknown(decodePeerBatch(encodePeerBatch(b)))), byContent(b));
      }),
      { numRuns: 300 },
    );
  });

  it('encodes in pieces the same bytes, with large entry data and transactions left in their own buffers', () => {
    fc.assert(
      fc.property(batch, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 9 }), (b, gatherMin, room) => {
        const pieces = encodePeerBatchPieces(b, room, gatherMin);
        assert.deepEqual(Buffer.concat(pieces).subarray(room), encodePeerBatch(b));
        const large = [...b.messages.flatMap((m) => m.entries.map((e) => e.data)), ...b.forwards.map((f) => f.txn)].filter((d) => d.length >= gatherMin);
        assert.deepEqual(pieces.filter((p) => large.includes(p)).length, large.length, 'each large field is a piece of its own, not a copy');
        assert.equal(pieces.length <= 2 * large.length + 1, true);
      }),
      { numRuns: 300 },
    );
  });

  it('speaks the same protocol as protobuf: each side reads what the other writes', () => {
    fc.assert(
      fc.property(batch, (b) => {
        assert.deepEqual(byContent(genericDecode(encodePeerBatch(b))), byContent(b), 'protobufjs reads the hand-encoded batch');
        assert.deepEqual(byContent(withoutUnknown(decodePeerBatch(genericEncode(b)))), byContent(b), 'the hand decoder reads protobufjs output');
      }),
      { numRuns: 300 },
    );
  });

  it('decodes the batches of one connection with their repeated strings reused, and changed ones read anew', () => {
    const strings = new PeerBatchStrings();
    fc.assert(
      fc.property(batch, (b) => {
        const [room] = encodePeerBatchPieces(b, 7) as [Uint8Array];
        assert.deepEqual(byContent(withoutUnknown(decodePeerBatch(room.subarray(7), strings))), byContent(b), 'the batch after the room');
      }),
      { numRuns: 200 },
    );
    const one = (clusterId: string, fromAddress: string) => decodePeerBatch(encodePeerBatch({ clusterId, from: 1, to: 2, fromAddress, pingMs: 0, messages: [], touchedSessions: [], forwards: [], rejections: [] }), strings);
    assert.equal(one('c1', '127.0.0.1:1').fromAddress, '127.0.0.1:1');
    const again = one('c1', '127.0.0.1:1');
    assert.deepEqual([again.clusterId, again.fromAddress], ['c1', '127.0.0.1:1']);
    const changed = one('c1', '127.0.0.1:2');
    assert.deepEqual([changed.clusterId, changed.fromAddress], ['c1', '127.0.0.1:2']);
    assert.equal(one('c2', '').clusterId, 'c2');
  });

  it('encodes a MsgApp in fewer bytes than protobufjs (no default values)', () => {
    const app: Message = { type: MessageType.App, to: 2, from: 1, term: 3, logTerm: 3, index: 41, entries: [{ term: 3, index: 42, type: EntryType.Normal, data: Buffer.alloc(100, 1) }], commit: 41, reject: false, rejectHint: 0, commitOnly: false };
    const b: PeerBatchData = { clusterId: 'c', from: 1, to: 2, fromAddress: '', pingMs: 0, messages: [app], touchedSessions: [], forwards: [], rejections: [] };
    assert.ok(encodePeerBatch(b).length < genericEncode(b).length);
  });

  it('skips unknown fields, reads unpacked repeated fields, and counts unknown message types', () => {
    // from=1 (field 2); an unknown varint field 20; touched_sessions (5) unpacked: 7 then 9; an
    // unknown length-delimited field 21; a message (4) of type 99, then one of type MSG_APP (3).
    const bytes = Buffer.from([0x10, 0x01, 0xa0, 0x01, 0x05, 0x28, 0x07, 0x28, 0x09, 0xaa, 0x01, 0x02, 0xff, 0xff, 0x22, 0x02, 0x08, 0x63, 0x22, 0x02, 0x08, 0x03]);
    const decoded = decodePeerBatch(bytes);
    assert.equal(decoded.from, 1);
    assert.deepEqual(decoded.touchedSessions, [7, 9]);
    assert.equal(decoded.unknownMessages, 1);
    assert.deepEqual(decoded.messages.map((m) => m.type), [MessageType.App]);
  });

  it('refuses malformed input with a PeerDecodeError and nothing else', () => {
    assertRefusesOnlyWith(decodePeerBatch, PeerDecodeError, fc.sample(batch, { numRuns: 50, seed: 7 }).map(encodePeerBatch));
    assert.throws(() => decodePeerBatch(Buffer.from([0x22, 0x05, 0x08])), PeerDecodeError); // a message longer than the batch
    assert.throws(() => decodePeerBatch(Buffer.from([0x22, 0x02, 0x3a, 0x05])), PeerDecodeError); // an entry longer than its message
    assert.throws(() => decodePeerBatch(Buffer.from([0x0b])), PeerDecodeError); // wire type 3 (groups)
    assert.throws(() => decodePeerBatch(Buffer.from([0x22, 0x04, 0x3a, 0x02, 0x18, 0x05])), PeerDecodeError); // entry type 5
  });
});
