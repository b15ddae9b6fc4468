import assert from 'node:assert/strict';
import { readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import CRC32C from 'crc-32/crc32c.js';
import { Wal, WalCorruptionError } from '../../src/storage/index.js';
import { assertEntries, entries, entry, removeTempDirs, tempDir } from './helpers.js';

/** A one-segment WAL with entries 1..5 (one append each), then `last` appended in one call. */
async function buildWal(options: { preallocate: boolean; segmentBytes?: number }, last = entries(6, 6)) {
  const dir = await tempDir();
  const { wal } = await Wal.open(dir, { ...options, preallocate: false });
  const [segment] = wal.segmentPaths();
  const boundaries: number[] = [(await stat(segment!)).size];
  for (let i = 1; i <= 5; i++) {
    await wal.append(entries(i, i), { term: 1, vote: 1, commit: i - 1 });
    boundaries.push((await stat(segment!)).size);
  }
  await wal.append(last);
  const end = (await stat(segment!)).size;
  await wal.close();
  return { dir, segment: segment!, bytes: await readFile(segment!), boundaries, start: boundaries.at(-1)!, end };
}

/** Puts `bytes` in a fresh directory as its only segment, then opens it. */
async function openWith(name: string, bytes: Uint8Array, preallocate = false) {
  const dir = await tempDir();
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { dir, path, ...(await Wal.open(dir, { preallocate })) };
}

async function expectTornTailDropped(name: string, bytes: Uint8Array, start: number, what: string): Promise<void> {
  const { dir, path, wal, recovered } = await openWith(name, bytes);
  assertEntries(recovered.entries, entries(1, 5));
  assert.deepEqual(recovered.hardState, { term: 1, vote: 1, commit: 4 }, what);
  assert.equal((await stat(path)).size, start, `${what}: the file is cut back to the last good record`);
  await wal.append([entry(6, 2)]);
  await wal.close();
  const { wal: again, recovered: final } = await Wal.open(dir, { preallocate: false });
  assertEntries(final.entries, [...entries(1, 5), entry(6, 2)]);
  await again.close();
}

function flipBit(bytes: Buffer, at: number, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at]! ^= 1 << bit;
  return copy;
}

async function expectCorruption(open: Promise<unknown>, file: string, offset: number): Promise<void> {
  await assert.rejects(open, (error: unknown) => {
    assert.ok(error instanceof WalCorruptionError, `expected WalCorruptionError, got ${String(error)}`);
    assert.equal(error.file, file);
    assert.equal(error.offset, offset);
    assert.ok(error.message.includes(file) && error.message.includes(`byte ${offset}`), error.message);
    assert.equal(error.code, 'INTERNAL');
    return true;
  });
}

describe('storage: Wal recovery', () => {
  after(removeTempDirs);
  const NAME = 'wal-0000000000000000-0000000000000001.log';

  it('drops a last record cut at every byte offset, and appends cleanly after', async () => {
    const { bytes, start, end } = await buildWal({ preallocate: false });
    assert.ok(end - start > 150);
    for (let cut = start; cut < end; cut++) {
      await expectTornTailDropped(NAME, bytes.subarray(0, cut), start, `cut at ${cut}`);
    }
  });

  it('drops a last record with any bit flipped', async () => {
    const { bytes, start, end } = await buildWal({ preallocate: false });
    for (let at = start; at < end; at++) {
      const bits = at < start + 9 ? [0, 1, 2, 3, 4, 5, 6, 7] : [at % 8];
      for (const bit of bits) await expectTornTailDropped(NAME, flipBit(bytes, at, bit), start, `bit ${bit} of byte ${at}`);
    }
  });

  it('drops a torn write into a preallocated zero tail at every byte offset', async () => {
    const { bytes, start, end } = await buildWal({ preallocate: false });
    const preallocated = Buffer.concat([bytes, Buffer.alloc(8192)]);
    await expectTornTailDropped(NAME, Buffer.concat([bytes.subarray(0, start), Buffer.alloc(8192)]), start, 'zero tail only');
    for (let cut = start; cut < end; cut++) {
      const torn = Buffer.from(preallocated);
      torn.fill(0, cut, end);
      await expectTornTailDropped(NAME, torn, start, `zeros from ${cut}`);
    }
  });

  it('keeps the whole records of a last batch that was torn part way', async () => {
    const { bytes, start, end } = await buildWal({ preallocate: false }, entries(6, 8));
    const recordBytes = (end - start) / 3;
    for (let cut = start; cut < end; cut += 7) {
      const { wal, recovered } = await openWith(NAME, bytes.subarray(0, cut));
      const whole = Math.floor((cut - start) / recordBytes);
      assertEntries(recovered.entries, entries(1, 5 + whole));
      await wal.close();
    }
  });

  it('refuses a bad record followed by valid ones, naming file and offset', async () => {
    const { bytes, boundaries } = await buildWal({ preallocate: false });
    const recordOfEntry3 = boundaries[2]!;
    for (const at of [recordOfEntry3, recordOfEntry3 + 4, recordOfEntry3 + 8, recordOfEntry3 + 40]) {
      const dir = await tempDir();
      await writeFile(join(dir, NAME), flipBit(bytes, at, 3));
      await expectCorruption(Wal.open(dir), join(dir, NAME), recordOfEntry3);
    }
    const zeroed = Buffer.from(bytes);
    zeroed.fill(0, recordOfEntry3, boundaries[3]);
    const dir = await tempDir();
    await writeFile(join(dir, NAME), zeroed);
    await expectCorruption(Wal.open(dir), join(dir, NAME), recordOfEntry3);
  });

  it('refuses a checksum-valid record that does not decode, even at the tail', async () => {
    const { bytes } = await buildWal({ preallocate: false });
    const record = Buffer.alloc(9 + 4);
    record.writeUInt32LE(5, 0);
    record[8] = 9;
    record.writeUInt32LE(CRC32C.buf(record.subarray(8)) >>> 0, 4);
    const dir = await tempDir();
    await writeFile(join(dir, NAME), Buffer.concat([bytes, record]));
    await expectCorruption(Wal.open(dir), join(dir, NAME), bytes.length);
  });

  it('refuses a bad segment header', async () => {
    const { bytes } = await buildWal({ preallocate: false });
    for (const at of [0, 8, 12, 20]) {
      const dir = await tempDir();
      await writeFile(join(dir, NAME), flipBit(bytes, at, 0));
      await expectCorruption(Wal.open(dir), join(dir, NAME), 0);
    }
    const dir = await tempDir();
    await writeFile(join(dir, 'wal-0000000000000000-0000000000000002.log'), bytes);
    await expectCorruption(Wal.open(dir), join(dir, 'wal-0000000000000000-0000000000000002.log'), 0);
  });

  describe('with several segments', () => {
    async function rotated() {
      const dir = await tempDir();
      const { wal } = await Wal.open(dir, { segmentBytes: 1024, preallocate: false });
      for (let i = 1; i <= 30; i++) await wal.append(entries(i, i));
      await wal.close();
      const names = (await readdir(dir)).sort();
      assert.ok(names.length >= 4);
      return { dir, names, paths: names.map((name) => join(dir, name)) };
    }

    it('refuses a flipped bit in the last record of a non-last segment', async () => {
      const { paths } = await rotated();
      const first = await readFile(paths[0]!);
      const lastRecordStart = first.length - (9 + 17 + 150);
      await writeFile(paths[0]!, flipBit(first, first.length - 10, 2));
      await expectCorruption(Wal.open(paths[0]!.slice(0, paths[0]!.lastIndexOf('/'))), paths[0]!, lastRecordStart);
    });

    it('refuses a non-last segment that lost its tail', async () => {
      const { dir, paths } = await rotated();
      const first = await readFile(paths[0]!);
      await writeFile(paths[0]!, first.subarray(0, first.length - 20));
      await expectCorruption(Wal.open(dir), paths[0]!, first.length - (9 + 17 + 150));
      await writeFile(paths[0]!, first.subarray(0, first.length - (9 + 17 + 150)));
      await expectCorruption(Wal.open(dir), paths[1]!, 0);
    });

    it('refuses a gap in the segment sequence', async () => {
      const { dir, paths } = await rotated();
      await unlink(paths[1]!);
      await expectCorruption(Wal.open(dir), paths[2]!, 0);
    });

    it('refuses entries missing below the oldest segment', async () => {
      const { dir, paths } = await rotated();
      await unlink(paths[0]!);
      await assert.rejects(Wal.open(dir), (error: unknown) => {
        assert.ok(error instanceof WalCorruptionError);
        assert.equal(error.file, paths[1]);
        assert.match(error.message, /entries from 1 on are missing/);
        return true;
      });
    });

    it('drops a torn tail of the last segment only', async () => {
      const { dir, paths } = await rotated();
      const last = await readFile(paths.at(-1)!);
      await writeFile(paths.at(-1)!, last.subarray(0, last.length - 3));
      const { wal, recovered } = await Wal.open(dir, { preallocate: false });
      assertEntries(recovered.entries, entries(1, 29));
      await wal.close();
    });

    it('deletes leftover temp segments', async () => {
      const { dir } = await rotated();
      const tmp = join(dir, 'wal-00000000000000ff.tmp');
      await writeFile(tmp, Buffer.alloc(100, 7));
      const { wal, recovered } = await Wal.open(dir, { preallocate: false });
      assertEntries(recovered.entries, entries(1, 30));
      assert.ok(!(await readdir(dir)).includes('wal-00000000000000ff.tmp'));
      await wal.close();
    });
  });
});
