import assert from 'node:assert/strict';
import { DataSlabs } from '../../src/tree/data-slabs.js';

describe('DataSlabs', () => {
  it('copies byte strings into slabs: each copy its own bytes, across slabs, large ones apart', () => {
    const slabs = new DataSlabs(64, 16);
    const source = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const view = source.subarray(1); // a view starting past its buffer's start: byte i is i + 1
    const copies = [];
    for (let n = 0, from = 0; from + n <= view.length; from += n, n = (n + 5) % 21) {
      slabs.place(view, from, n);
      copies.push({ from, n, copy: slabs.placedIn.subarray(slabs.placedAt, slabs.placedAt + n) });
    }
    source.fill(0);
    for (const { from, n, copy } of copies) {
      assert.deepEqual([...copy], Array.from({ length: n }, (_, i) => from + i + 1), `${n} bytes from ${from}`);
      // the slabs' ArrayBuffers are 64 bytes here; a string over 16 bytes is copied apart
      assert.equal(copy.buffer.byteLength === 64, n <= 16, `${n} bytes in a slab or not`);
      assert.ok(Buffer.isBuffer(copy));
    }
  });
});
