import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { FRAME_HEADER_BYTES, FrameError, FrameKind, FrameReader, writeFrame, writeFrameInPlace } from '../../src/transport/wire.js';

/** The bytes writeFrame puts on a stream. */
function frameBytes(kind: FrameKind, payload: Uint8Array): Buffer {
  const stream = new PassThrough();
  writeFrame(stream, kind, payload);
  return stream.read() as Buffer;
}

describe('transport: peer frames', () => {
  it('reads back what was written, whatever the chunking', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last one')];
    const kinds = [FrameKind.Batch, FrameKind.SnapshotEnd, FrameKind.SnapshotData, FrameKind.Reply];
    const bytes = Buffer.concat(payloads.map((p, i) => frameBytes(kinds[i]!, p)));
    for (const chunkSize of [1, 3, 5, 4096, bytes.length]) {
      const reader = new FrameReader(1 << 20);
      const frames = [];
      for (let at = 0; at < bytes.length; at += chunkSize) frames.push(...reader.push(bytes.subarray(at, at + chunkSize)));
      assert.deepEqual(frames.map((f) => f.kind), kinds, `chunks of ${chunkSize}`);
      assert.deepEqual(frames.map((f) => Buffer.from(f.payload)), payloads, `chunks of ${chunkSize}`);
    }
  });

  it('writes a frame in place (header in the room left before the payload) as the same bytes', () => {
    for (const payload of [Buffer.alloc(0), Buffer.from('batch'), Buffer.alloc(70_000, 3)]) {
      const frame = Buffer.concat([Buffer.alloc(FRAME_HEADER_BYTES, 0xee), payload]);
      const stream = new PassThrough();
      writeFrameInPlace(stream, FrameKind.Batch, [frame]);
      assert.deepEqual(stream.read(), frameBytes(FrameKind.Batch, payload));
    }
  });

  it('writes a frame of several pieces (the header in the first one\'s room) as the same bytes', () => {
    const pieces = [Buffer.concat([Buffer.alloc(FRAME_HEADER_BYTES, 0xee), Buffer.from('head')]), Buffer.alloc(70_000, 5), Buffer.from('tail')];
    const stream = new PassThrough();
    writeFrameInPlace(stream, FrameKind.Batch, pieces);
    const chunks: Buffer[] = [];
    for (let chunk; (chunk = stream.read() as Buffer | null) !== null; ) chunks.push(chunk);
    assert.deepEqual(Buffer.concat(chunks), frameBytes(FrameKind.Batch, Buffer.concat(pieces).subarray(FRAME_HEADER_BYTES)));
  });

  it('refuses a frame over the limit as soon as its length arrives, and an unknown kind', () => {
    const big = frameBytes(FrameKind.Batch, Buffer.alloc(101));
    assert.throws(() => new FrameReader(100).push(big.subarray(0, 4)), FrameError);
    assert.deepEqual(new FrameReader(101).push(big).length, 1);
    const unknown = frameBytes(FrameKind.Batch, Buffer.from('x'));
    unknown[4] = 99;
    assert.throws(() => new FrameReader(100).push(unknown), /unknown peer frame kind 99/);
    assert.throws(() => new FrameReader(100).push(Buffer.from([0, 0, 0, 0])), FrameError, 'a frame without even its kind');
    const reasons: string[] = [];
    assert.deepEqual(new FrameReader(100).read(unknown, (reason) => reasons.push(reason)), []);
    assert.deepEqual(reasons, ['unknown peer frame kind 99'], 'read() hands the reason to its callback instead of throwing');
  });
});
