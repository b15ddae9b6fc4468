/**
 * The WAL archive: segments a member deletes (compaction) or loses (wiped on replacement) stay
 * readable, and the committed log is rebuilt from every member's archive, counting each member's
 * entries only up to what it knew committed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Wal } from '@conclave/server/dist/src/storage/index.js';
import { EntryType, type Entry } from '@conclave/server/dist/src/raft/index.js';
import { LogArchive, committedLog } from '../../nemesis/archive.js';

const entry = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.from(text) });
const range = (from: number, to: number, term: number, tag = '') => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term, `e${from + i}${tag}`));

describe('WAL archive', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-archive-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function member(id: number) {
    const dataDir = path.join(dir, `member-${id}`);
    const { wal } = await Wal.open(path.join(dataDir, 'wal'), { segmentBytes: 4096, preallocate: false });
    return { dataDir, wal };
  }

  it('keeps the segments a member released, and rebuilds the whole committed log', async () => {
    const archive = new LogArchive(path.join(dir, 'archive'));
    const a = await member(1);
    archive.add(1, a.dataDir);
    for (let i = 1; i <= 300; i += 10) {
      await a.wal.append(range(i, i + 9, 1), { term: 1, vote: 1, commit: i - 1 });
      archive.sweep();
    }
    await a.wal.saveSnapshotMarker({ index: 250, term: 1, conf: { voters: [1], learners: [] } });
    await a.wal.releaseBefore(251);
    assert.ok(a.wal.segmentPaths().length < 10, 'segments were released');
    await a.wal.close();
    archive.stop();

    const log = committedLog(archive, [1], 300);
    assert.equal(log.complete, true, `missing ${log.firstMissing}`);
    assert.deepEqual(log.conflicts, []);
    assert.deepEqual(log.entries.map((e) => e.index), range(1, 300, 1).map((e) => e.index));
    assert.equal(Buffer.from(log.entries[41]!.data).toString(), 'e42');
  });

  it('trusts an older log only up to the last entry it shares with the committed log', async () => {
    const archive = new LogArchive(path.join(dir, 'archive'));
    // A removed member: entries 1..20 of term 1, of which 13..20 never committed; the leader of term
    // 2 replaced 16..18; then it fell behind, installed a snapshot at 25 (recording commit 25 while
    // its stale tail was still on disk), and went on from 26.
    const removed = await member(1);
    archive.add(1, removed.dataDir);
    await removed.wal.append(range(1, 20, 1), { term: 1, vote: 1, commit: 12 });
    await removed.wal.append(range(16, 18, 2, 'x'), { term: 2, vote: 2, commit: 15 });
    await removed.wal.saveSnapshotMarker({ index: 25, term: 4, conf: { voters: [1, 2], learners: [] } });
    await removed.wal.append([], { term: 4, vote: 2, commit: 25 });
    await removed.wal.append(range(26, 27, 4), { term: 4, vote: 2, commit: 27 });
    await removed.wal.close();
    archive.sweep();
    // The member that stays: joined by a snapshot at 10; in its log 16..18 are term 3, 19..30 term 4.
    const current = await member(2);
    archive.add(2, current.dataDir);
    await current.wal.saveSnapshotMarker({ index: 10, term: 1, conf: { voters: [1, 2], learners: [] } });
    await current.wal.append([...range(11, 15, 1), ...range(16, 18, 3, 'y'), ...range(19, 30, 4)]);
    await current.wal.close();
    archive.stop();

    const log = committedLog(archive, [2], 30);
    assert.deepEqual(log.conflicts, []);
    assert.equal(log.complete, true, `missing ${log.firstMissing}`);
    assert.deepEqual(log.entries.map((e) => `${e.index}:${e.term}`).slice(13, 20), ['14:1', '15:1', '16:3', '17:3', '18:3', '19:4', '20:4']);
    assert.equal(Buffer.from(log.entries[16]!.data).toString(), 'e17y');
  });

  it("finds a hole no member's log covers, and an entry that differs under the same index and term", async () => {
    const archive = new LogArchive(path.join(dir, 'archive'));
    const a = await member(1);
    archive.add(1, a.dataDir);
    await a.wal.append(range(1, 5, 1));
    await a.wal.close();
    const b = await member(2);
    archive.add(2, b.dataDir);
    await b.wal.saveSnapshotMarker({ index: 7, term: 1, conf: { voters: [1, 2], learners: [] } });
    await b.wal.append(range(8, 9, 1));
    await b.wal.close();
    archive.stop();
    const hole = committedLog(archive, [2], 9);
    assert.equal(hole.complete, false);
    assert.equal(hole.firstMissing, 7);

    const c = await member(3);
    archive.add(3, c.dataDir);
    await c.wal.append([...range(1, 7, 1), entry(8, 1, 'different')]);
    await c.wal.close();
    archive.stop();
    const bridged = committedLog(archive, [2], 9);
    assert.match(bridged.conflicts.join(), /index 8: term 1 and member 3's term 1/);
  });
});
