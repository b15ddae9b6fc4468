/**
 * The hand-written node records of snapshots (src/node-record.ts) against the schema: protobufjs
 * reads what they write and they read what protobufjs writes, for random nodes; bad bytes give a
 * typed error.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codec } from '@conclave/proto';
import type { SnapshotRecord } from '../src/fsm/state-machine.js';
import { MalformedNodeRecordError, NodeRecordWriter, decodeNodeRecord, type DecodedNode } from '../src/node-record.js';
import { recordBytes } from '../src/storage/index.js';
import { NODE_KINDS, ZNode } from '../src/tree/tree.js';

const recordCodec = codec<SnapshotRecord, SnapshotRecord>('conclave.raft.v1.SnapshotRecord');

const big = fc.oneof(fc.constant(0), fc.nat(1000), fc.maxSafeNat());
const nodeArb = fc
  .record({
    path: fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((s) => !s.includes('/')), { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/')),
    data: fc.uint8Array({ maxLength: 300 }),
    kind: fc.constantFrom(...NODE_KINDS),
    czxid: big,
    mzxid: big,
    pzxid: big,
    ctime: big,
    mtime: big,
    version: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    cversion: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    owner: big,
    ttl: big,
  })
  .map((f) => {
    const node = new ZNode(f.data, f.kind, f.czxid, f.ctime, f.owner, f.ttl);
    node.mzxid = f.mzxid;
    node.pzxid = f.pzxid;
    node.mtime = f.mtime;
    node.version = f.version;
    node.cversion = f.cversion;
    return { path: f.path, node };
  });

/** The record of `node` at `path`, as bytes of its own. */
const encodeNodeRecord = (path: string, node: ZNode): Uint8Array => recordBytes(new NodeRecordWriter().set(path, node));

/** decodeNodeRecord of all of `bytes`, as a value */
function decode(bytes: Uint8Array): DecodedNode | undefined {
  const out: DecodedNode = { path: '', node: undefined };
  return decodeNodeRecord(bytes, 0, bytes.length, out) ? out : undefined;
}

function fields(path: string, node: ZNode) {
  const { aversion: _a, dataLength: _d, numChildren: _n, ...stat } = node.stat();
  return { path, data: Buffer.from(node.data).toString('hex'), kind: node.kind, ttl: node.ttl, stat };
}

describe('snapshot node records, by hand', () => {
  it('round-trip, and protobufjs reads them as the schema says', () => {
    fc.assert(
      fc.property(nodeArb, ({ path, node }) => {
        const bytes = encodeNodeRecord(path, node);
        const back = decode(bytes)!;
        assert.deepEqual(fields(back.path, back.node!), fields(path, node));
        // the same record amid other bytes (as in a chunk of a snapshot file), read by its range
        const amid = Buffer.concat([Buffer.from([0xff, 0x12, 0x34]), bytes, Buffer.from([0x0a, 0xff])]);
        const inChunk: DecodedNode = { path: '', node: undefined };
        assert.ok(decodeNodeRecord(amid, 3, 3 + bytes.length, inChunk));
        assert.deepEqual(fields(inChunk.path, inChunk.node!), fields(path, node));
        const viaSchema = recordCodec.decode(bytes).node!;
        assert.equal(viaSchema.path, path);
        assert.equal(Buffer.from(viaSchema.data).toString('hex'), Buffer.from(node.data).toString('hex'));
        assert.equal(viaSchema.kind, node.kind);
        assert.equal(Number(viaSchema.ttlMs), node.ttl);
        const s = viaSchema.stat!;
        assert.deepEqual(
          [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.version, s.cversion, s.ephemeralOwner].map(Number),
          [node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime, node.version, node.cversion, node.ephemeralOwner],
        );
      }),
      { numRuns: 500 },
    );
  });

  it('read what protobufjs writes, and copy the data out of the bytes', () => {
    fc.assert(
      fc.property(nodeArb, ({ path, node }) => {
        const bytes = recordCodec.encode({ node: { path, data: node.data, stat: node.stat(), kind: node.kind, ttlMs: node.ttl } });
        const back = decode(bytes)!;
        assert.deepEqual(fields(back.path, back.node!), fields(path, node));
        if (back.node!.data.length > 0) {
          bytes.fill(0);
          assert.equal(Buffer.from(back.node!.data).toString('hex'), Buffer.from(node.data).toString('hex'));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keep each decoded node\'s data apart though nodes share slabs, and let it be replaced', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 400 }), fc.nat(), (records, pick) => {
        const encoded = records.map(({ path, node }) => encodeNodeRecord(path, node));
        const decoded = encoded.map((bytes) => decode(bytes)!.node!);
        for (const bytes of encoded) bytes.fill(0xee);
        const expected = records.map(({ node }) => Buffer.from(node.data).toString('hex'));
        decoded.forEach((node, i) => {
          assert.equal(Buffer.from(node.data).toString('hex'), expected[i]);
          assert.equal(node.dataLength, node.data.length);
          assert.equal(node.stat().dataLength, node.data.length);
        });
        const replaced = decoded[pick % decoded.length]!;
        replaced.data = Buffer.from('replaced');
        decoded.forEach((node, i) => {
          const want = node === replaced ? Buffer.from('replaced').toString('hex') : expected[i];
          assert.equal(Buffer.from(node.data).toString('hex'), want);
          assert.equal(node.dataLength, node.data.length);
        });
      }),
      { numRuns: 50 },
    );
  });

  it('leave other records to protobufjs, and refuse cut or garbled node records with a typed error', () => {
    assert.equal(decode(recordCodec.encode({ session: { id: 5, timeoutMs: 10, secret: Buffer.alloc(4), lease: false, owner: 1 } })), undefined);
    const node = new ZNode(Buffer.from('value'), 'PERSISTENT', 7, 1000, 0, 0);
    const bytes = encodeNodeRecord('/a/b', node);
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.throws(() => decode(bytes.subarray(0, cut)), MalformedNodeRecordError, `cut at ${cut}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (garbage) => {
        garbage[0] = bytes[0]!;
        try {
          decode(garbage);
        } catch (error) {
          assert.ok(error instanceof MalformedNodeRecordError, String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
