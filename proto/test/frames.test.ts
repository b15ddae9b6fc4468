import assert from 'node:assert/strict';
import { codec, estimateSize, splitFrames } from '../src/index.js';

describe('frames', () => {
  it('estimates at least the encoded size of typical messages', () => {
    const down = codec<object, object>('conclave.v1.SessionDown');
    const message = {
      responses: [
        { id: 7, zxid: 123456, getData: { data: Buffer.alloc(1000), stat: { czxid: 1, mzxid: 2, version: 3, ctime: Date.now() } } },
        { id: 0, zxid: 9, event: { type: 'NODE_CREATED', path: '/a/b/c', zxid: 9 } },
        { id: 8, getChildren: { children: ['a', 'bb', 'ccc'] } },
      ],
    };
    assert.ok(estimateSize(message) >= down.encode(message).length);
  });

  it('splits a batch into frames under the limit, in order, a large item alone', () => {
    const items = [Buffer.alloc(400), Buffer.alloc(400), Buffer.alloc(400), Buffer.alloc(2000), Buffer.alloc(10)];
    const frames = splitFrames(items, 1000);
    assert.deepEqual(frames.map((f) => f.map((b) => b.length)), [[400, 400], [400], [2000], [10]]);
    assert.deepEqual(splitFrames([], 10), []);
  });
});
