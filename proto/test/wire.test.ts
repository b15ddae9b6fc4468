import assert from 'node:assert/strict';
import { WireFormatError, WireReader, WireType, tag, varintSize, writeVarint } from '../src/wire.js';

describe('protobuf wire format by hand', () => {
  it('writes and reads varints, negatives as ten-byte two’s complement', () => {
    const sizes = [0, 7, 14, 21, 28, 35, 42, 49].flatMap((bits) => [2 ** bits - 1, 2 ** bits]).filter((v) => v >= 1);
    for (const value of [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1764220000000, 2 ** 53 - 1, ...sizes, -1, -2, -(2 ** 31), -(2 ** 53 - 1)]) {
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

  it('reads an embedded message in place (enter/leave) and a reused reader from its new range (reset)', () => {
    // field 1: message { field 2 varint 5, field 3 string "ab" }, then field 4 varint 9
    const bytes = Buffer.from([tag(1, WireType.Bytes), 6, tag(2, WireType.Varint), 5, tag(3, WireType.Bytes), 2, 0x61, 0x62, tag(4, WireType.Varint), 9]);
    const r = new WireReader(new Uint8Array(0), 0, 0);
    for (const copy of [bytes, new Uint8Array(Buffer.concat([Buffer.from([0xee]), bytes]))]) {
      const start = copy.length - bytes.length;
      r.reset(copy, start, copy.length);
      assert.equal(r.varint(), tag(1, WireType.Bytes));
      const outer = r.enter(WireType.Bytes);
      assert.equal(r.limit, start + 8);
      assert.equal(r.varint(), tag(2, WireType.Varint));
      assert.equal(r.varint(), 5);
      assert.equal(r.varint(), tag(3, WireType.Bytes));
      assert.equal(r.string(), 'ab');
      assert.ok(r.done);
      r.leave(outer);
      assert.equal(r.varint(), tag(4, WireType.Varint));
      assert.equal(r.varint(), 9);
      assert.ok(r.done);
    }
    r.reset(Buffer.from([tag(1, WireType.Bytes), 5, 1]), 0, 3);
    r.varint();
    assert.throws(() => r.enter(WireType.Bytes), WireFormatError);
  });

  it('keeps a large field that fills most of its buffer as a view, and copies the others', () => {
    const field = (n: number, extra: number) => {
      const header = Buffer.from([0x80 | (n & 0x7f), n >> 7]); // a two-byte length
      const bytes = Buffer.alloc(2 + n + extra, 7);
      header.copy(bytes);
      return bytes;
    };
    const kept = (bytes: Buffer) => new WireReader(bytes, 0, bytes.length).bytesKept();
    const large = field(8000, 100); // 8,000 bytes of 8,102: a view
    const view = kept(large);
    assert.equal(view.length, 8000);
    assert.equal(view.buffer, large.buffer);
    const lopsided = field(8000, 9000); // under half of its buffer: a copy
    assert.notEqual(kept(lopsided).buffer, lopsided.buffer);
    const small = field(300, 0); // small: a copy, whatever its share
    const copy = kept(small);
    small.fill(0);
    assert.deepEqual([...copy], new Array(300).fill(7));
  });

  it('hands a bytes field to a placer and steps past it', () => {
    const placed: [number, number][] = [];
    const input = Buffer.from([3, 7, 8, 9, 2, 5, 6]);
    const r = new WireReader(input, 0, input.length);
    const placer = { place: (source: Uint8Array, from: number, n: number) => void placed.push([source[from]!, n]) };
    assert.equal(r.bytesPlaced(placer), 3);
    assert.equal(r.bytesPlaced(placer), 2);
    assert.ok(r.done);
    assert.deepEqual(placed, [[7, 3], [5, 2]]);
  });
});
