import assert from 'node:assert/strict';
import { SnapshotFeed } from '../../src/storage/snapshot-feed.js';

async function drain(feed: SnapshotFeed): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of feed.chunks()) out.push(Buffer.from(chunk).toString());
  return out;
}

describe('storage: SnapshotFeed', () => {
  it('hands the reader every chunk in order, those pushed before it started and after', async () => {
    const feed = new SnapshotFeed(1024);
    feed.push(Buffer.from('a'));
    const reading = drain(feed);
    await new Promise((r) => setImmediate(r));
    feed.push(Buffer.from('b'));
    feed.push(Buffer.from('c'));
    feed.end();
    feed.push(Buffer.from('ignored after the end'));
    assert.deepEqual(await reading, ['a', 'b', 'c']);
  });

  it('fails the reader when writing fails, dropping what it held', async () => {
    const feed = new SnapshotFeed(1024);
    feed.push(Buffer.from('a'));
    feed.fail(new Error('disk gone'));
    await assert.rejects(drain(feed), /disk gone/);
  });

  it('fails a reader that falls more than the backlog behind, and ignores the rest', async () => {
    const feed = new SnapshotFeed(10);
    feed.push(Buffer.alloc(6));
    feed.push(Buffer.alloc(6)); // 12 bytes waiting: over the bound
    feed.push(Buffer.alloc(1));
    feed.end();
    await assert.rejects(drain(feed), /behind/);
  });

  it('counts only what the reader has not taken yet', async () => {
    const feed = new SnapshotFeed(10);
    const reader = feed.chunks();
    for (let i = 0; i < 5; i++) {
      feed.push(Buffer.alloc(6));
      assert.equal((await reader.next()).value?.length, 6);
    }
    feed.end();
    assert.equal((await reader.next()).done, true);
  });
});
