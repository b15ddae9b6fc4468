import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codec } from '@conclave/proto';
import type { Txn, Txn__Output } from '@conclave/proto/gen/conclave/raft/v1/Txn.js';
import { stampTime } from '../src/codec.js';
import { TxnDecodeError, decodeTxn } from '../src/txn-decode.js';
import { encodeTxn, type TxnOpFields } from '../src/txn-encode.js';
import { DATA_COPIED_MAX_BYTES, NODE_KINDS } from '../src/tree/tree.js';
import { assertRefusesOnlyWith, byContent } from './wire-helpers.js';

/** protobufjs's generic decoder: what the hand decoder must agree with. */
const generic = codec<Txn, Txn__Output>('conclave.raft.v1.Txn');

const u64 = fc.oneof(fc.constant(0), fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const i64 = fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 50), max: 2 ** 50 }));
const u32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff_ffff }));
const i32 = fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const path = fc.oneof(fc.constant('/a/b'), fc.string({ unit: 'grapheme', maxLength: 30 }));
const data = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const create = fc.record({ path, data, kind: fc.constantFrom(...NODE_KINDS), ttlMs: i64, leaseId: u64, withStat: fc.boolean() }, { requiredKeys: [] });
const pathVersion = fc.record({ path, version: i32 }, { requiredKeys: [] });
const setData = fc.record({ path, data, version: i32 }, { requiredKeys: [] });
const op = fc.oneof(
  create.map((create) => ({ create })),
  pathVersion.map((d) => ({ delete: d })),
  setData.map((setData) => ({ setData })),
  pathVersion.map((check) => ({ check })),
);
const txnOp = fc.oneof(
  create.map((create) => ({ create })),
  pathVersion.map((d) => ({ delete: d })),
  setData.map((setData) => ({ setData })),
  fc.array(op, { maxLength: 5 }).map((ops) => ({ multi: { ops } })),
  fc.record({ timeoutMs: u32, secret: data, lease: fc.boolean() }, { requiredKeys: [] }).map((createSession) => ({ createSession })),
  fc.record({ sessionId: u64, expired: fc.boolean() }, { requiredKeys: [] }).map((closeSession) => ({ closeSession })),
  fc.record({ sessionId: u64, secret: data }, { requiredKeys: [] }).map((moveSession) => ({ moveSession })),
  fc.record({ path, mzxid: u64, pzxid: u64 }, { requiredKeys: [] }).map((reap) => ({ reap })),
  fc.constant({}),
);
const header = fc.record({ origin: u32, originSeq: u64, sessionId: u64, timeMs: i64 }, { requiredKeys: [] });
const txn: fc.Arbitrary<Txn> = fc.tuple(header, txnOp).map(([h, body]) => ({ ...h, ...body }));

describe('transactions decoded by hand', () => {
  it('decode to what protobufjs decodes, for every kind of transaction', () => {
    fc.assert(
      fc.property(txn, (t) => {
        const bytes = generic.encode(t);
        assert.deepEqual(byContent(decodeTxn(bytes)), byContent(generic.decode(bytes)));
      }),
      { numRuns: 1000 },
    );
  });

  it('take the time stamped after the encoding (the last time_ms wins), and leave small data for the tree to copy', () => {
    const bytes = Buffer.from(stampTime(generic.encode({ timeMs: 5, create: { path: '/x', data: Buffer.from('hello') } }), 1_700_000_000_000));
    const decoded = decodeTxn(bytes);
    assert.equal(decoded.timeMs, 1_700_000_000_000);
    assert.equal(decoded.op, 'create');
    // small node data is a view of the entry: the tree copies it into its slabs (DataTree.keepData)
    assert.equal(decoded.create!.data.toString(), 'hello');
    assert.equal(decoded.create!.data.buffer, bytes.buffer);
    assert.ok(decoded.create!.data.length <= DATA_COPIED_MAX_BYTES);
    // other bytes are copies: nothing else may keep the entry alive
    const session = Buffer.from(generic.encode({ createSession: { timeoutMs: 1_000, secret: Buffer.from('s3cret') } }));
    const opened = decodeTxn(session);
    session.fill(0);
    assert.equal(opened.createSession!.secret.toString(), 's3cret');
  });

  it('keep large data as a view into the entry, which it fills, instead of a second copy', () => {
    const data = Buffer.alloc(100 * 1024, 3);
    const entry = Buffer.from(generic.encode({ setData: { path: '/big', data, version: -1 } }));
    const decoded = decodeTxn(entry);
    assert.ok(decoded.setData!.data.equals(data));
    assert.equal(decoded.setData!.data.buffer, entry.buffer);
  });

  it('skip unknown fields, and keep an unknown node kind as its number (as protobufjs)', () => {
    // origin (1) = 3; unknown field 9 (bytes "zz"); create (10) { path "/p", kind 42 }.
    const bytes = Buffer.from([0x08, 0x03, 0x4a, 0x02, 0x7a, 0x7a, 0x52, 0x06, 0x0a, 0x02, 0x2f, 0x70, 0x18, 0x2a]);
    assert.deepEqual(byContent(decodeTxn(bytes)), byContent(generic.decode(bytes)));
    assert.equal(decodeTxn(bytes).create!.kind, 42);
  });

  it('refuse malformed bytes with a TxnDecodeError and nothing else', () => {
    assertRefusesOnlyWith(decodeTxn, TxnDecodeError, fc.sample(txn, { numRuns: 40, seed: 11 }).map((t) => generic.encode(t)));
    assert.throws(() => decodeTxn(Buffer.from([0x52, 0x05, 0x0a])), TxnDecodeError); // create longer than the txn
    assert.throws(() => decodeTxn(Buffer.from([0x0a, 0x01])), TxnDecodeError); // origin with the bytes wire type
  });
});

describe('transactions encoded by hand', () => {
  it('read back as what they were, by protobufjs and by the hand decoder, for every kind of transaction', () => {
    fc.assert(
      fc.property(header, txnOp, (h, body) => {
        const bytes = encodeTxn(body as TxnOpFields, h.origin ?? 0, h.originSeq ?? 0, h.sessionId ?? 0, h.timeMs ?? 0);
        // The time is a clock reading: whole ms, never below 0.
        const expected = generic.decode(generic.encode({ ...h, timeMs: Math.max(0, h.timeMs ?? 0), ...body }));
        assert.deepEqual(byContent(generic.decode(bytes)), byContent(expected));
        assert.deepEqual(byContent(decodeTxn(bytes)), byContent(expected));
        assert.ok(bytes.length <= generic.encode({ ...h, timeMs: Math.max(0, h.timeMs ?? 0), ...body }).length, 'default values are left out');
      }),
      { numRuns: 1000 },
    );
  });

  it('write the time in whole ms, and let the leader stamp a forwarded one', () => {
    assert.equal(decodeTxn(encodeTxn({ delete: { path: '/x', version: -1 } }, 2, 9, 0, 1_795_611_824_945.7)).timeMs, 1_795_611_824_945);
    const forwarded = encodeTxn({ delete: { path: '/x', version: -1 } }, 2, 9, 0, 0);
    const stamped = decodeTxn(stampTime(forwarded, 1_795_611_824_945));
    assert.equal(stamped.timeMs, 1_795_611_824_945);
    assert.equal(stamped.originSeq, 9);
    assert.deepEqual(stamped.delete, { path: '/x', version: -1 });
  });

  it('keep the ops of a multi in order, with fields 16 and 17 (two-byte tags) intact', () => {
    const ops = [{ create: { path: '/a', data: Buffer.from('1'), kind: 'EPHEMERAL_SEQUENTIAL' } }, { check: { path: '/b', version: 3 } }, { delete: { path: '/c', version: -1 } }];
    const multi = decodeTxn(encodeTxn({ multi: { ops } } as TxnOpFields, 1, 2, 3, 4)).multi!.ops;
    assert.deepEqual(multi.map((o) => o.op), ['create', 'check', 'delete']);
    assert.equal(multi[0]!.create!.kind, 'EPHEMERAL_SEQUENTIAL');
    assert.deepEqual(decodeTxn(encodeTxn({ reap: { path: '/t', mzxid: 300, pzxid: 2 ** 40 } }, 0, 0, 0, 5)).reap, { path: '/t', mzxid: 300, pzxid: 2 ** 40 });
    assert.equal(decodeTxn(encodeTxn({ moveSession: { sessionId: 7, secret: Buffer.from('s') } }, 0, 0, 0, 5)).moveSession!.sessionId, 7);
  });

  it('refuse a node kind they do not know', () => {
    assert.throws(() => encodeTxn({ create: { path: '/a', kind: 'SOMETIMES' } } as unknown as TxnOpFields, 1, 1, 0, 0), TypeError);
  });
});
