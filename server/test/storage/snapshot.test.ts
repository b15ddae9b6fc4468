import assert from 'node:assert/strict';
import { readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SnapshotMeta } from '../../src/raft/types.js';
import {
  MemorySnapshotFiles,
  SnapshotCorruptionError,
  SnapshotStore,
  StorageFullError,
  nodeFs,
  type EncodableRecord,
  type RecordWriter,
  type SnapshotFiles,
} from '../../src/storage/index.js';
import fc from 'fast-check';
import { FaultyFs, removeTempDirs, tempDir } from './helpers.js';

const META: SnapshotMeta = { index: 1000, term: 7, conf: { voters: [1, 2, 3], learners: [9] } };

/** Deterministic records of varied sizes, with a few larger than a write chunk. */
function* records(count: number, large = true): Generator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    const size = large && i % 2500 === 1234 ? 3 * 1024 * 1024 + i : (i * 37) % 300;
    const record = new Uint8Array(size);
    for (let j = 0; j < size; j++) record[j] = (i + j * 13) & 0xff;
    yield record;
  }
}

async function collect(source: AsyncIterable<Uint8Array[]>): Promise<Buffer[]> {
  const all: Buffer[] = [];
  for await (const batch of source) for (const record of batch) all.push(Buffer.from(record));
  return all;
}

function assertRecords(actual: Buffer[], count: number, large = true): void {
  const expected = [...records(count, large)];
  assert.equal(actual.length, expected.length);
  actual.forEach((record, i) => assert.ok(record.equals(expected[i]!), `record ${i} differs`));
}

async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function expectCorrupt(run: () => Promise<unknown>, file: string, maxOffset: number): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof SnapshotCorruptionError, `expected SnapshotCorruptionError, got ${String(error)}`);
    assert.ok(error.file.includes(file), `${error.file} names ${file}`);
    assert.ok(error.offset <= maxOffset, `offset ${error.offset} is at or before the damage at ${maxOffset}`);
    assert.ok(error.message.includes(`byte ${error.offset}`), error.message);
    return true;
  });
}

function snapshotFilesContract(make: () => Promise<SnapshotFiles>): void {
  it('round-trips many records, with meta and size', async () => {
    const store = await make();
    const { path, bytes } = await store.write(META, records(20_000));
    assertRecords(await collect(store.read(path)), 20_000);
    const latest = await store.latest();
    assert.deepEqual(latest, { meta: META, path, bytes });
  });

  it('accepts async record sources and empty snapshots', async () => {
    const store = await make();
    async function* none(): AsyncGenerator<Uint8Array> {}
    const { path } = await store.write({ ...META, index: 5 }, none());
    assert.deepEqual(await collect(store.read(path)), []);
  });

  it('lists newest first and prunes all but the newest', async () => {
    const store = await make();
    for (const [index, term] of [[10, 1], [30, 2], [20, 1], [30, 3]] as const) {
      await store.write({ ...META, index, term }, records(3, false));
    }
    assert.deepEqual((await store.list()).map(({ meta }) => [meta.index, meta.term]), [[30, 3], [30, 2], [20, 1], [10, 1]]);
    const removed = await store.prune(2);
    assert.deepEqual(removed.map((path) => basename(path).slice(0, 24)), ['snap-0000000000000014-00', 'snap-000000000000000a-00']);
    assert.deepEqual((await store.list()).map(({ meta }) => meta.index), [30, 30]);
    assert.equal((await store.latest())?.meta.term, 3);
  });

  it('sends a snapshot to another store, which verifies it before keeping it', async () => {
    const from = await make();
    const to = await make();
    const { path } = await from.write(META, records(3000));
    const arrived: Buffer[] = [];
    const received = await to.receive(META, from.openForSend(path), (batch) => arrived.push(...batch.map((r) => Buffer.from(r))));
    assertRecords(await collect(to.read(received)), 3000);
    assertRecords(arrived, 3000);
    assert.deepEqual((await to.latest())?.meta, META);
  });

  it('hands out the chunks it writes: together they are the file, which a receiver accepts', async () => {
    const from = await make();
    const written: Uint8Array[] = [];
    const { path } = await from.write(META, records(3000), { onChunk: (chunk) => written.push(chunk) });
    assert.ok(written.length > 1, `${written.length} chunks`);
    assert.ok(Buffer.concat(written).equals(Buffer.concat(await from.openForSend(path).toArray())));
    const to = await make();
    assertRecords(await collect(to.read(await to.receive(META, chunksOf(Buffer.concat(written), 4096)))), 3000);
  });

  it('takes records as writers, one object re-aimed at each: the same file as their bytes', async () => {
    const store = await make();
    const asBytes = await store.write(META, records(3000));
    const bytesFile = Buffer.concat(await store.openForSend(asBytes.path).toArray());
    await store.prune(0);
    // one writer object for every small record (the large ones given as bytes, passed through)
    function* asWriters(): Generator<EncodableRecord> {
      let current: Uint8Array = new Uint8Array(0);
      const writer: RecordWriter = {
        get size() {
          return current.length;
        },
        writeTo: (out, at) => out.set(current, at),
      };
      for (const record of records(3000)) {
        current = record;
        yield record.length > 1024 * 1024 ? record : writer;
      }
    }
    const viaWriters = await store.write(META, asWriters(), { aheadBytes: 1024 * 1024 });
    assert.equal(viaWriters.bytes, asBytes.bytes);
    assert.ok(Buffer.concat(await store.openForSend(viaWriters.path).toArray()).equals(bytesFile));
    await assert.rejects(store.write(META, [{ size: -1, writeTo: () => undefined } as RecordWriter]), /Uint8Arrays or record writers/);
  });

  it('reads the records back whatever the sizes of the chunks they arrive in', async () => {
    const from = await make();
    const { path } = await from.write(META, records(400, false));
    const bytes = Buffer.concat(await from.openForSend(path).toArray());
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 }), async (sizes) => {
        async function* pieces(): AsyncGenerator<Uint8Array> {
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const n = sizes[i % sizes.length]!;
            // every other piece a plain Uint8Array, not a Buffer
            const piece = bytes.subarray(at, at + n);
            yield i % 2 === 0 ? piece : new Uint8Array(piece);
            at += n;
          }
        }
        const to = await make();
        assertRecords(await collect(to.read(await to.receive(META, pieces()))), 400, false);
      }),
      { numRuns: 25 },
    );
  });

  it('rejects a truncated or corrupted transfer and keeps nothing of it', async () => {
    const from = await make();
    const { path } = await from.write(META, records(200, false));
    const bytes = Buffer.concat(await from.openForSend(path).toArray());
    const to = await make();
    for (const cut of [0, 10, 40, bytes.length / 2, bytes.length - 29, bytes.length - 1]) {
      await expectCorrupt(() => to.receive(META, chunksOf(bytes.subarray(0, Math.floor(cut)), 1000)), 'received', bytes.length);
    }
    const flipped = Buffer.from(bytes);
    flipped[bytes.length >> 1]! ^= 0x10;
    await expectCorrupt(() => to.receive(META, chunksOf(flipped, 333)), 'received', bytes.length >> 1);
    await expectCorrupt(() => to.receive({ ...META, term: 8 }, chunksOf(bytes, 4096)), 'received', 0);
    await expectCorrupt(() => to.receive(META, chunksOf(Buffer.concat([bytes, Buffer.from([0])]), 4096)), 'received', bytes.length);
    assert.deepEqual(await to.list(), []);
  });
}

describe('storage: SnapshotStore', () => {
  after(removeTempDirs);

  snapshotFilesContract(async () => SnapshotStore.open(await tempDir()));

  it('names files by index and term and leaves no temp file', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    const { path, bytes } = await store.write(META, records(10, false));
    assert.equal(path, join(dir, 'snap-00000000000003e8-0000000000000007.snap'));
    assert.equal((await stat(path)).size, bytes);
    assert.deepEqual(await readdir(dir), [basename(path)]);
  });

  it('streams: the file grows while the records are still being produced', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    let seenOnDisk = 0;
    async function* watched(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 80; i++) {
        if (i === 79) {
          const temp = (await readdir(dir)).find((name) => name.endsWith('.tmp'));
          seenOnDisk = temp ? (await stat(join(dir, temp))).size : 0;
        }
        yield new Uint8Array(64 * 1024).fill(i);
      }
    }
    await store.write(META, watched());
    assert.ok(seenOnDisk >= 4 * 1024 * 1024, `${seenOnDisk} bytes were on disk before the last record`);
  });

  it('detects any flipped bit, naming the file and an offset at or before it', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    const { path } = await store.write(META, records(12, false));
    const bytes = await readFile(path);
    for (let at = 0; at < bytes.length; at++) {
      const copy = Buffer.from(bytes);
      copy[at]! ^= 1 << (at % 8);
      await writeFile(path, copy);
      await expectCorrupt(() => collect(store.read(path)), path, at);
    }
  });

  it('detects truncation at every offset', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    const { path } = await store.write(META, records(12, false));
    const bytes = await readFile(path);
    for (let cut = 0; cut < bytes.length; cut++) {
      await writeFile(path, bytes.subarray(0, cut));
      await expectCorrupt(() => collect(store.read(path)), path, cut);
    }
  });

  it('refuses a file whose header does not match its name', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    const { path } = await store.write(META, records(3, false));
    const renamed = join(dir, 'snap-00000000000003e9-0000000000000007.snap');
    await rename(path, renamed);
    await expectCorrupt(() => collect(store.read(renamed)), renamed, 0);
    await expectCorrupt(() => store.list(), renamed, 0);
  });

  it('removes the temp file when the record source fails', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield* records(5000, false);
      throw new Error('state machine failed');
    }
    await assert.rejects(store.write(META, failing()), /state machine failed/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('a transfer rejected at once while its write fails leaves no unhandled rejection and no file', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs();
    const store = await SnapshotStore.open(dir, { fs });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      fs.fail({ op: 'writev', code: 'ENOSPC' });
      await assert.rejects(store.receive(META, chunksOf(Buffer.alloc(64, 0x55), 64)), SnapshotCorruptionError);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
      assert.deepEqual(await readdir(dir), []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('reports a full disk as StorageFullError and removes the temp file', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs();
    const store = await SnapshotStore.open(dir, { fs });
    fs.fail({ op: 'writev', code: 'ENOSPC', partialBytes: 1000 });
    await assert.rejects(store.write(META, records(5000, false)), StorageFullError);
    assert.deepEqual(await readdir(dir), []);
    fs.fail({ op: 'datasync', code: 'ENOSPC' });
    await assert.rejects(store.write(META, records(10, false)), StorageFullError);
    assert.deepEqual(await readdir(dir), []);
    await store.write(META, records(10, false));
    assert.equal((await store.list()).length, 1);
    // with the encoding ahead of the writes, a failed write still fails the snapshot and leaves no file
    await store.prune(0);
    fs.fail({ op: 'writev', code: 'ENOSPC', partialBytes: 1000 });
    await assert.rejects(store.write(META, records(5000, false), { aheadBytes: 64 * 1024 * 1024 }), StorageFullError);
    assert.deepEqual(await readdir(dir), []);
  });

  it('with aheadBytes, reads all the records before the file is written', async () => {
    const dir = await tempDir();
    const store = await SnapshotStore.open(dir);
    let onDiskWhenRead = -1;
    async function* watched(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 80; i++) yield new Uint8Array(64 * 1024).fill(i);
      const temp = (await readdir(dir)).find((name) => name.endsWith('.tmp'));
      onDiskWhenRead = temp ? (await stat(join(dir, temp))).size : 0;
    }
    const { bytes } = await store.write(META, watched(), { aheadBytes: 64 * 1024 * 1024 });
    assert.ok(onDiskWhenRead >= 0 && onDiskWhenRead < bytes, `${onDiskWhenRead} of ${bytes} bytes on disk when the last record was read`);
  });

  it('leaves nothing in the directory after a rejected transfer', async () => {
    const from = await SnapshotStore.open(await tempDir());
    const { path } = await from.write(META, records(100, false));
    const bytes = await readFile(path);
    const dir = await tempDir();
    const to = await SnapshotStore.open(dir);
    await expectCorrupt(() => to.receive(META, chunksOf(bytes.subarray(0, bytes.length - 5), 512)), 'received', bytes.length);
    assert.deepEqual(await readdir(dir), []);
  });

  it('lists past a snapshot pruned between reading the directory and opening the file', async () => {
    const dir = await tempDir();
    // the directory names a snapshot whose file is gone by the time it is opened
    const vanished = 'snap-00000000000000ff-0000000000000009.snap';
    const store = await SnapshotStore.open(dir, { fs: { ...nodeFs, readdir: async (d) => [...(await nodeFs.readdir(d)), vanished] } });
    await store.write(META, records(3, false));
    assert.deepEqual((await store.list()).map(({ meta }) => meta.index), [META.index]);
    assert.equal((await store.latest())?.meta.index, META.index);
  });

  it('deletes temp files left by a crash when opened', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'snap-00000000000003e8-0000000000000007.snap.abc123.tmp'), 'partial');
    const store = await SnapshotStore.open(dir);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await store.latest(), undefined);
  });
});

describe('storage: MemorySnapshotFiles', () => {
  snapshotFilesContract(async () => new MemorySnapshotFiles());

  it('detects corruption like the file store', async () => {
    const store = new MemorySnapshotFiles();
    const { path } = await store.write(META, records(12, false));
    const name = basename(path);
    const bytes = store.files.get(name)!;
    for (let at = 0; at < bytes.length; at += 3) {
      const copy = Buffer.from(bytes);
      copy[at]! ^= 0x80;
      store.files.set(name, copy);
      await expectCorrupt(() => collect(store.read(path)), name, at);
    }
  });
});
