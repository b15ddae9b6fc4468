import assert from 'node:assert/strict';
import { WireFormatError, WireReader, WireType, tag, varintSize, writeVarint } from '../src/protobuf-wire.js';

describe('protobuf wire format by hand', () => {
  it('writes and reads varints, negatives as ten-byte two’s complement', () => {
    for (const value of [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -1, -2, -(2 ** 31), -(2 ** 53 - 1)]) {
      const out = new Uint8Array(10);
      const end = writeVarint(out, 0, value);
      assert.equal(end, varintSize(value), `size of ${value}`);
      const r = new WireReader(out, 0, end);
      assert.equal(r.varint(), value);
      assert.ok(r.done);
    }
    // -1 as protobuf writes it: nine 0xff and a 0x01.
    const minusOne = new Uint8Array(10);
    writeVarint(minusOne, 0, -1);
    assert.deepEqual([...minusOne], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('skips unknown fields of every wire type to just after them', () => {
    // field 20 varint 300, field 21 bytes "abc", field 22 fixed64, field 23 fixed32, then field 1 varint 7.
    const bytes = Buffer.from([
      ...[0xa0, 0x01, 0xac, 0x02],
      ...[0xaa, 0x01, 0x03, 0x61, 0x62, 0x63],
      ...[0xb1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8],
      ...[0xbd, 0x01, 1, 2, 3, 4],
      ...[tag(1, WireType.Varint), 0x07],
    ]);
    const r = new WireReader(bytes, 0, bytes.length);
    for (let i = 0; i < 4; i++) r.skip(r.varint() & 7);
    assert.equal(r.varint(), tag(1, WireType.Varint));
    assert.equal(r.varint(), 7);
    assert.ok(r.done);
  });

  it('refuses what runs past its range: a varint, a length, a skipped field, an 11-byte varint', () => {
    assert.throws(() => new WireReader(Buffer.from([0x80, 0x80]), 0, 2).varint(), WireFormatError);
    assert.throws(() => new WireReader(Buffer.from([0x05, 0x61]), 0, 2).bytesView(), WireFormatError);
    assert.throws(() => new WireReader(Buffer.from([1, 2, 3]), 0, 3).skip(WireType.Fixed64), WireFormatError);
    assert.throws(() => new WireReader(Buffer.alloc(11, 0x80), 0, 11).varint(), WireFormatError);
    assert.throws(() => new WireReader(Buffer.from([0x01]), 0, 1).skip(3), WireFormatError); // groups are not supported
  });
});
