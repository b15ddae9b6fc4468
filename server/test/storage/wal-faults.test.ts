import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { Wal, StorageFullError, StorageIoError, WalClosedError } from '../../src/storage/index.js';
import { FaultyFs, assertEntries, entries, entry, removeTempDirs, settle, tempDir } from './helpers.js';

const HS = { term: 1, vote: 1, commit: 4 };

async function openFaulty(options: { segmentBytes?: number; preallocate?: boolean } = {}) {
  const fs = new FaultyFs();
  const dir = await tempDir();
  const { wal } = await Wal.open(dir, { fs, preallocate: false, ...options });
  await wal.append(entries(1, 5), HS);
  return { fs, dir, wal };
}

async function recover(dir: string) {
  const { wal, recovered } = await Wal.open(dir, { preallocate: false });
  await wal.close();
  return recovered;
}

describe('storage: Wal under disk faults', () => {
  after(removeTempDirs);

  it('rejects a batch that hit ENOSPC part way, cuts the partial record off, and recovers once space returns', async () => {
    const { fs, dir, wal } = await openFaulty();
    const [segment] = wal.segmentPaths();
    const goodSize = (await stat(segment!)).size;
    fs.fail({ op: 'writev', code: 'ENOSPC', partialBytes: 100 });
    const failed = wal.append(entries(6, 8), { term: 1, vote: 1, commit: 7 });
    const sameBatch = wal.append(entries(9, 9));
    for (const call of [failed, sameBatch]) {
      await assert.rejects(call, (error: unknown) => {
        assert.ok(error instanceof StorageFullError);
        assert.equal(error.code, 'UNAVAILABLE');
        assert.match(error.message, /disk full/);
        return true;
      });
    }
    assert.equal((await stat(segment!)).size, goodSize, 'the partial record is gone');

    await wal.append(entries(6, 6, 2));
    await wal.close();
    const recovered = await recover(dir);
    assertEntries(recovered.entries, [...entries(1, 5), entry(6, 2)]);
    assert.deepEqual(recovered.hardState, HS);
  });

  it('keeps failing while the disk stays full, then succeeds', async () => {
    const { fs, dir, wal } = await openFaulty();
    fs.fail({ op: 'writev', code: 'ENOSPC', times: 3 });
    for (let attempt = 0; attempt < 3; attempt++) await assert.rejects(wal.append(entries(6, 7)), StorageFullError);
    await wal.append(entries(6, 7));
    await wal.close();
    assertEntries((await recover(dir)).entries, entries(1, 7));
  });

  it('rejects a failed fdatasync and every call queued behind it, and does not count the batch as durable', async () => {
    const { fs, dir, wal } = await openFaulty();
    const [segment] = wal.segmentPaths();
    const goodSize = (await stat(segment!)).size;
    let release!: () => void;
    fs.syncGate = new Promise<void>((resolve) => (release = resolve));
    const waiting = new Promise<void>((resolve) => (fs.onSyncWaiting = resolve));
    const inFlight = wal.append(entries(6, 6));
    await waiting;
    const queued = wal.append(entries(7, 7));
    fs.fail({ op: 'datasync', code: 'EIO' });
    fs.syncGate = undefined;
    release();
    await assert.rejects(inFlight, (error: unknown) => error instanceof StorageIoError && /I\/O error/.test(error.message));
    await assert.rejects(queued, StorageIoError);
    assert.equal((await stat(segment!)).size, goodSize, 'the unsynced batch was cut off the file');

    await wal.append(entries(6, 6, 3));
    await wal.close();
    assertEntries((await recover(dir)).entries, [...entries(1, 5), entry(6, 3)]);
  });

  it('fails permanently when the segment cannot be cut back after a failed fdatasync', async () => {
    const { fs, dir, wal } = await openFaulty();
    fs.fail({ op: 'datasync', code: 'EIO' });
    fs.fail({ op: 'truncate', code: 'EIO' });
    await assert.rejects(wal.append(entries(6, 6)), StorageIoError);
    await settle();
    await assert.rejects(wal.append(entries(6, 6)), (error: unknown) => {
      assert.ok(error instanceof WalClosedError);
      assert.match(error.message, /failed permanently/);
      return true;
    });
    await assert.rejects(wal.releaseBefore(3), WalClosedError);
    await wal.close();
    const recovered = await recover(dir);
    assertEntries(recovered.entries.slice(0, 5), entries(1, 5));
  });

  it('survives ENOSPC while creating the next segment', async () => {
    const { fs, dir, wal } = await openFaulty({ segmentBytes: 1024 });
    fs.fail({ op: 'open', code: 'ENOSPC', pathIncludes: '.tmp' });
    await assert.rejects(wal.append(entries(6, 10)), StorageFullError);
    assert.deepEqual((await readdir(dir)).filter((name) => name.endsWith('.tmp')), []);
    fs.fail({ op: 'rename', code: 'ENOSPC', pathIncludes: '.tmp' });
    await assert.rejects(wal.append(entries(6, 10)), StorageFullError);
    assert.deepEqual((await readdir(dir)).filter((name) => name.endsWith('.tmp')), []);
    await wal.append(entries(6, 10));
    assert.equal(wal.segmentPaths().length, 2);
    await wal.close();
    assertEntries((await recover(dir)).entries, entries(1, 10));
  });

  it('fails permanently when a new segment cannot be made durable in its directory', async () => {
    const { fs, dir, wal } = await openFaulty({ segmentBytes: 1024 });
    fs.fail({ op: 'syncDir', code: 'EIO' });
    await assert.rejects(wal.append(entries(6, 10)), WalClosedError);
    await assert.rejects(wal.append(entries(6, 10)), WalClosedError);
    await wal.close();
    assertEntries((await recover(dir)).entries, entries(1, 5));
  });

  it('carries on without preallocation when zero-filling fails', async () => {
    const fs = new FaultyFs();
    fs.fail({ op: 'writev', code: 'ENOSPC', pathIncludes: 'wal-0000000000000001.tmp' });
    const dir = await tempDir();
    const { wal } = await Wal.open(dir, { fs, segmentBytes: 1024, preallocate: true });
    for (let i = 1; i <= 20; i++) await wal.append(entries(i, i));
    assert.ok(wal.segmentPaths().length > 2);
    await wal.close();
    assertEntries((await recover(dir)).entries, entries(1, 20));
  });

  it('reports an I/O error while cutting a torn tail at open', async () => {
    const { dir, wal } = await openFaulty();
    const [segment] = wal.segmentPaths();
    await wal.close();
    const { truncate } = await import('node:fs/promises');
    await truncate(segment!, (await stat(segment!)).size - 1);
    const fs = new FaultyFs();
    fs.fail({ op: 'truncate', code: 'EIO' });
    await assert.rejects(Wal.open(dir, { fs }), StorageIoError);
    const recovered = await recover(dir);
    assertEntries(recovered.entries, entries(1, 5));
    assert.equal(recovered.hardState, undefined, 'the torn hard state record was dropped');
  });
});
