/**
 * A real full disk: a 1 MiB tmpfs mounted for the test (needs root; skipped with a reason otherwise).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SnapshotStore, StorageFullError, Wal } from '../../src/storage/index.js';
import { assertEntries, entries, removeTempDirs, tempDir } from './helpers.js';

const run = promisify(execFile);

describe('storage: a real full disk (1 MiB tmpfs)', function () {
  let mountPoint: string | undefined;

  before(async function () {
    // Kept on purpose: CI and the project's machines run as root, so this runs there; a developer
    // running `npm test` unprivileged cannot mount, and gets the reason instead of a failure.
    if (process.getuid?.() !== 0) {
      console.log(`      skipped: mounting a tmpfs needs root, and this runs as uid ${process.getuid?.()}`);
      this.skip();
    }
    const dir = await tempDir('conclave-tmpfs-');
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    mountPoint = dir;
  });

  after(async () => {
    // Lazy, so that a test failing with files still open cannot leave the mount behind.
    if (mountPoint) await run('umount', ['--lazy', mountPoint]);
    await removeTempDirs();
  });

  it('WAL: rejects appends with StorageFullError, then recovers exactly the acknowledged entries once space returns', async () => {
    const filler = join(mountPoint!, 'filler');
    await writeFile(filler, Buffer.alloc(400 * 1024));
    const dir = join(mountPoint!, 'wal');
    const options = { segmentBytes: 128 * 1024, preallocate: true };
    const { wal } = await Wal.open(dir, options);
    let next = 1;
    let failure: unknown;
    while (failure === undefined) {
      try {
        await wal.append(entries(next, next + 9, 1, 1000), { term: 1, vote: 1, commit: next });
        next += 10;
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(failure instanceof StorageFullError, String(failure));
    assert.ok(next > 100, `the disk held ${next - 1} entries before filling up`);

    await unlink(filler);
    await wal.append(entries(next, next + 9, 1, 1000));
    next += 10;
    await wal.close();

    const { wal: again, recovered } = await Wal.open(dir, { ...options, preallocate: false });
    assertEntries(recovered.entries, entries(1, next - 1, 1, 1000));
    await again.close();
    for (const name of await readdir(dir)) await unlink(join(dir, name));
  });

  it('SnapshotStore: a snapshot that does not fit fails with StorageFullError and leaves no file', async () => {
    const dir = join(mountPoint!, 'snap');
    const store = await SnapshotStore.open(dir);
    const meta = { index: 10, term: 1, conf: { voters: [1], learners: [] } };
    const big = Array.from({ length: 40 }, () => new Uint8Array(64 * 1024).fill(7));
    await assert.rejects(store.write(meta, big), StorageFullError);
    assert.deepEqual(await readdir(dir), []);
    await store.write(meta, big.slice(0, 4));
    assert.equal((await store.list()).length, 1);
  });
});
