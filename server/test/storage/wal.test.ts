import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Wal } from '../../src/storage/index.js';
import { FaultyFs, assertEntries, entries, removeTempDirs, settle, tempDir } from './helpers.js';
import { logStoreContract } from './log-contract.js';

const CONF = { voters: [1, 2, 3], learners: [] };

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
}

/** Reopens the log in `dir` (no preallocation) and checks that it holds entries 1..last. */
async function assertLogHolds(dir: string, last: number): Promise<void> {
  const { wal, recovered } = await Wal.open(dir, { preallocate: false });
  assertEntries(recovered.entries, entries(1, last));
  await wal.close();
}

/** A closed log of entries 1..60 (one append each) in preallocated 4 KiB segments; its last segment's path. */
async function preallocatedLog(dir: string): Promise<string> {
  const { wal } = await Wal.open(dir, { segmentBytes: 4096, preallocate: true });
  for (let i = 1; i <= 60; i++) await wal.append(entries(i, i));
  await wal.close();
  return join(dir, (await segmentFiles(dir)).at(-1)!);
}

describe('storage: Wal', () => {
  after(removeTempDirs);

  describe('contract, one segment, no preallocation', () => {
    logStoreContract(async () => {
      const dir = await tempDir();
      return () => Wal.open(dir, { preallocate: false });
    });
  });

  describe('contract, 1 KiB segments, preallocated', () => {
    logStoreContract(async () => {
      const dir = await tempDir();
      return () => Wal.open(dir, { segmentBytes: 1024, preallocate: true });
    });
  });

  it('creates its directory durably, and a first segment', async () => {
    const root = await tempDir();
    const dir = join(root, 'a', 'wal');
    const fs = new FaultyFs();
    const { wal } = await Wal.open(dir, { segmentBytes: 64 * 1024, fs });
    assert.deepEqual(fs.syncedDirs.slice(0, 2), [join(root, 'a'), root], 'new directory entries are synced in their parents');
    assert.deepEqual(await segmentFiles(dir), ['wal-0000000000000000-0000000000000001.log']);
    await wal.close();
    assert.deepEqual(await readdir(dir), ['wal-0000000000000000-0000000000000001.log'], 'no temp file is left behind');
  });

  it('rotates segments, naming each by sequence and first index', async () => {
    const dir = await tempDir();
    const { wal } = await Wal.open(dir, { segmentBytes: 2048, preallocate: false });
    for (let i = 1; i <= 100; i += 5) await wal.append(entries(i, i + 4), { term: 1, vote: 1, commit: i });
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 9, `expected many segments, got ${files.length}`);
    files.forEach((name, seq) => assert.match(name, new RegExp(`^wal-${seq.toString(16).padStart(16, '0')}-[0-9a-f]{16}\\.log$`)));
    for (const name of files.slice(0, -1)) {
      assert.ok((await stat(join(dir, name))).size <= 2048, `${name} stays within segmentBytes`);
    }
    assert.deepEqual(wal.segmentPaths().map((path) => basename(path)), files);
    await wal.close();
    const { wal: again, recovered } = await Wal.open(dir, { segmentBytes: 2048 });
    assertEntries(recovered.entries, entries(1, 100));
    assert.deepEqual(recovered.hardState, { term: 1, vote: 1, commit: 96 });
    await again.close();
  });

  it('writes one oversized batch into a segment of its own', async () => {
    const dir = await tempDir();
    const { wal } = await Wal.open(dir, { segmentBytes: 1024, preallocate: false });
    await wal.append(entries(1, 2));
    await wal.append(entries(3, 40));
    await wal.append(entries(41, 41));
    assert.equal((await segmentFiles(dir)).length, 3);
    await wal.close();
    const { wal: again, recovered } = await Wal.open(dir, { preallocate: false });
    assertEntries(recovered.entries, entries(1, 41));
    await again.close();
  });

  it('preallocates the next segment and recovers from a zero-filled tail', async () => {
    const dir = await tempDir();
    const last = await preallocatedLog(dir);
    assert.equal((await stat(last)).size, 4096, 'close leaves the preallocated segment as a crash would');
    const { wal: again, recovered } = await Wal.open(dir, { segmentBytes: 4096 });
    assertEntries(recovered.entries, entries(1, 60));
    assert.equal((await stat(last)).size, 4096, 'the zero tail is kept: the segment stays preallocated');
    await again.append(entries(61, 61));
    assert.equal((await stat(last)).size, 4096, 'the append overwrote zeros');
    await again.close();
    await assertLogHolds(dir, 61);
  });

  it('zeroes a torn write in a preallocated segment instead of cutting the segment short', async () => {
    const dir = await tempDir();
    const last = await preallocatedLog(dir);
    const bytes = await readFile(last);
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    // A torn write: half a record's worth of garbage after the last record.
    bytes.fill(0xab, end, end + 100);
    await writeFile(last, bytes);
    const { wal: again, recovered } = await Wal.open(dir, { segmentBytes: 4096 });
    assertEntries(recovered.entries, entries(1, 60));
    const after = await readFile(last);
    assert.equal(after.length, 4096, 'still preallocated');
    assert.ok(after.subarray(end).every((b) => b === 0), 'the torn bytes were zeroed');
    await again.append(entries(61, 61));
    await again.close();
    await assertLogHolds(dir, 61);
  });

  it("leaves a segment that was not preallocated (a new log's first) as soon as the next one is", async () => {
    const dir = await tempDir();
    const segmentBytes = 256 * 1024;
    const { wal } = await Wal.open(dir, { segmentBytes, preallocate: true });
    await wal.append(entries(1, 1));
    const [first] = await segmentFiles(dir);
    assert.ok((await stat(join(dir, first!))).size < segmentBytes, 'the first segment is not preallocated');
    let index = 2;
    for (; index < 200 && (await segmentFiles(dir)).length < 2; index++) {
      await wal.append(entries(index, index));
      await settle(5);
    }
    const files = await segmentFiles(dir);
    assert.equal(files.length, 2, 'moved to the preallocated segment');
    assert.equal((await stat(join(dir, files[1]!))).size, segmentBytes, 'the current segment is preallocated');
    await wal.append(entries(index, index));
    await wal.close();
    await assertLogHolds(dir, index);
  });

  it('releases whole segments below the index that the snapshot marker covers', async () => {
    const dir = await tempDir();
    const { wal } = await Wal.open(dir, { segmentBytes: 2048, preallocate: false });
    await wal.append([], { term: 3, vote: 2, commit: 0 });
    for (let i = 1; i <= 100; i += 5) await wal.append(entries(i, i + 4, 3));
    const before = await segmentFiles(dir);

    await wal.releaseBefore(90);
    assert.deepEqual(await segmentFiles(dir), before, 'nothing is released without a snapshot marker');

    await wal.saveSnapshotMarker({ index: 50, term: 3, conf: CONF });
    await wal.releaseBefore(90);
    const afterMarker = await segmentFiles(dir);
    assert.ok(afterMarker.length < before.length, 'segments below the marker were released');
    assert.deepEqual(afterMarker, before.slice(before.length - afterMarker.length), 'what is left is a suffix');
    assert.ok(parseInt(afterMarker[0]!.split('-')[2]!, 16) <= 51, 'the segment holding entry 51 is kept');

    await wal.saveSnapshotMarker({ index: 100, term: 3, conf: CONF });
    await wal.releaseBefore(30);
    assert.deepEqual(await segmentFiles(dir), afterMarker, 'segments holding entries at or above the index are kept');
    await wal.releaseBefore(101);
    assert.deepEqual(await segmentFiles(dir), [before.at(-1)], 'all but the current segment are released');
    await wal.close();

    const { wal: again, recovered } = await Wal.open(dir, { preallocate: false });
    assert.deepEqual(recovered.hardState, { term: 3, vote: 2, commit: 0 }, 'the hard state survives in later segments');
    assert.equal(recovered.snapshot?.index, 100);
    assert.deepEqual(recovered.entries, []);
    assert.equal(recovered.lastIndex, 100);
    await again.append(entries(101, 102, 4));
    await again.close();
    const { wal: third, recovered: final } = await Wal.open(dir, { preallocate: false });
    assertEntries(final.entries, entries(101, 102, 4));
    await third.close();
  });

  it('releases across a rotation made just after the marker', async () => {
    const dir = await tempDir();
    const { wal } = await Wal.open(dir, { segmentBytes: 1024, preallocate: false });
    for (let i = 1; i <= 30; i++) await wal.append(entries(i, i));
    await wal.saveSnapshotMarker({ index: 25, term: 1, conf: CONF });
    for (let i = 31; i <= 40; i++) await wal.append(entries(i, i));
    await wal.releaseBefore(26);
    await wal.close();
    const { wal: again, recovered } = await Wal.open(dir, { preallocate: false });
    assertEntries(recovered.entries, entries(26, 40));
    await again.close();
  });
});
