/**
 * Snapshot files: written through a temp file and renamed into place once complete and durable;
 * read back as a stream of verified records; sent and received as raw bytes between members.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { SnapshotMeta } from '../raft/types.js';
import { checkSnapshotMeta, sameSnapshotMeta } from './codec.js';
import { SnapshotCorruptionError, storageFailure } from './errors.js';
import { ensureDir, nodeFs, writeFully, type StorageFile, type StorageFs } from './fs.js';
import { SNAPSHOT_CHUNK_BYTES, SnapshotReader, encodeSnapshot, newestFirst, parseSnapshotName, snapshotName, type EncodableRecord } from './snapshot-format.js';

export interface SnapshotInfo {
  meta: SnapshotMeta;
  path: string;
  bytes: number;
}

export type SnapshotRecords = Iterable<EncodableRecord> | AsyncIterable<EncodableRecord>;

export interface SnapshotWriteOptions {
  /** sees each chunk of the file as it is encoded (to stream it meanwhile) */
  onChunk?: (chunk: Uint8Array) => void;
  /**
   * How far encoding may run ahead of the file's writes, in bytes (default 0: each chunk is written
   * before the next is encoded). Ahead, a snapshot that fits is read from the records at the speed
   * of encoding, not of the disk.
   */
  aheadBytes?: number;
}

/** What the node layer needs from snapshot storage; SnapshotStore on disk, MemorySnapshotFiles in tests. */
export interface SnapshotFiles {
  /** Streams opaque records into a new snapshot; it appears only once complete and durable. */
  write(meta: SnapshotMeta, records: SnapshotRecords, options?: SnapshotWriteOptions): Promise<{ path: string; bytes: number }>;
  /** The newest snapshot (highest index, then term), if any. */
  latest(): Promise<SnapshotInfo | undefined>;
  /** All snapshots, newest first. */
  list(): Promise<SnapshotInfo[]>;
  /**
   * The records of a snapshot in batches (SnapshotReader.records: views into the file's chunks),
   * each checksum verified; corruption throws SnapshotCorruptionError.
   */
  read(path: string): AsyncIterable<Uint8Array[]>;
  /** Removes all but the `keep` newest snapshots; returns the removed paths. */
  prune(keep?: number): Promise<string[]>;
  /** The raw bytes of a snapshot file, to stream to another member. */
  openForSend(path: string): Readable;
  /**
   * Stores a snapshot streamed from another member, verifying it as it arrives; returns its path.
   * `onRecords`, when given, gets each batch of checksum-verified records as they arrive (views into
   * the chunks: copy what you keep), so that the receiver can restore while the rest streams in;
   * what it built counts only once receive resolves (the trailer, checked last, seals the sequence).
   */
  receive(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>, onRecords?: (records: Uint8Array[]) => void): Promise<string>;
}

const TEMP_SUFFIX = '.tmp';

export class SnapshotStore implements SnapshotFiles {
  private constructor(
    readonly dir: string,
    private readonly fs: StorageFs,
  ) {}

  /** Opens (or creates) the snapshot directory and deletes temp files a crash left behind. */
  static async open(dir: string, options: { fs?: StorageFs } = {}): Promise<SnapshotStore> {
    const fs = options.fs ?? nodeFs;
    try {
      await ensureDir(fs, dir);
      for (const name of await fs.readdir(dir)) {
        if (name.startsWith('snap-') && name.endsWith(TEMP_SUFFIX)) await fs.unlink(join(dir, name));
      }
    } catch (error) {
      throw storageFailure(error, `open the snapshot directory ${dir}`);
    }
    return new SnapshotStore(dir, fs);
  }

  async write(meta: SnapshotMeta, records: SnapshotRecords, options: SnapshotWriteOptions = {}): Promise<{ path: string; bytes: number }> {
    checkSnapshotMeta(meta);
    const ahead = options.aheadBytes ?? 0;
    return this.install(meta, 'write', async (file) => {
      let bytes = 0;
      let unwritten = 0;
      // the file's writes, one after the other, behind the encoding
      let writes: Promise<void> = Promise.resolve();
      for await (const chunk of encodeSnapshot(meta, records)) {
        options.onChunk?.(chunk);
        const at = bytes;
        bytes += chunk.length;
        unwritten += chunk.length;
        writes = writes.then(async () => {
          await this.io(`write snapshot ${snapshotName(meta)}`, () => writeFully(file, [chunk], at));
          unwritten -= chunk.length;
        });
        // awaited below; until then a failure must not count as unhandled
        writes.catch(() => undefined);
        if (unwritten > ahead) await writes;
      }
      await writes;
      return bytes;
    });
  }

  async receive(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>, onRecords?: (records: Uint8Array[]) => void): Promise<string> {
    checkSnapshotMeta(meta);
    const label = `${snapshotName(meta)} (received)`;
    const { path } = await this.install(meta, 'receive', async (file) => {
      let bytes = 0;
      // Each chunk goes to the file and to the verifying reader at once: the write runs while the
      // reader (and onRecords) work through the chunk, and the file is not read back afterwards.
      const io = this.io.bind(this);
      async function* writtenThrough(): AsyncGenerator<Uint8Array> {
        for await (const chunk of chunks) {
          const writing = io(`write ${label}`, () => writeFully(file, [chunk], bytes));
          // Awaited below; a reader that stops early (a corrupt record) never resumes this generator,
          // and its failure must not be left an unhandled rejection.
          writing.catch(() => undefined);
          bytes += chunk.length;
          yield chunk;
          await writing;
        }
      }
      await readReceived(new SnapshotReader(writtenThrough(), label), meta, label, onRecords);
      return bytes;
    });
    return path;
  }

  async list(): Promise<SnapshotInfo[]> {
    const names = await this.io(`list ${this.dir}`, () => this.fs.readdir(this.dir));
    const infos: SnapshotInfo[] = [];
    for (const { name } of snapshotNames(names)) {
      const path = join(this.dir, name);
      try {
        infos.push(await this.withFile(path, async (file, size) => {
          const meta = await this.checkedMeta(new SnapshotReader(fileChunks(file, size), path, size), path);
          return { meta, path, bytes: size };
        }));
      } catch (error) {
        // pruned since the directory was read (a snapshot taken meanwhile): not a snapshot any more
        if ((error as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') continue;
        throw error;
      }
    }
    return infos;
  }

  async latest(): Promise<SnapshotInfo | undefined> {
    return (await this.list())[0];
  }

  async *read(path: string): AsyncGenerator<Uint8Array[]> {
    const file = await this.io(`open snapshot ${path}`, () => this.fs.open(path, 'r'));
    try {
      const size = await this.io(`stat snapshot ${path}`, () => file.size());
      const reader = new SnapshotReader(fileChunks(file, size), path, size);
      await this.checkedMeta(reader, path);
      yield* reader.records();
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  async prune(keep = 2): Promise<string[]> {
    const names = await this.io(`list ${this.dir}`, () => this.fs.readdir(this.dir));
    const removed: string[] = [];
    for (const { name } of snapshotNames(names).slice(keep)) {
      const path = join(this.dir, name);
      await this.io(`remove snapshot ${path}`, () => this.fs.unlink(path));
      removed.push(path);
    }
    if (removed.length > 0) await this.io(`fsync ${this.dir}`, () => this.fs.syncDir(this.dir));
    return removed;
  }

  openForSend(path: string): Readable {
    return this.fs.createReadStream(path);
  }

  /**
   * Runs `fill` on a fresh temp file, then fsyncs it, renames it to the snapshot's name and fsyncs
   * the directory. On any failure the temp file is removed and nothing else changes.
   */
  private async install(
    meta: SnapshotMeta,
    action: string,
    fill: (file: StorageFile) => Promise<number>,
  ): Promise<{ path: string; bytes: number }> {
    const path = join(this.dir, snapshotName(meta));
    const tempPath = `${path}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
    const file = await this.io(`${action} snapshot ${path}`, () => this.fs.open(tempPath, 'w+'));
    let open = true;
    try {
      const bytes = await fill(file);
      await this.io(`fsync snapshot ${tempPath}`, () => file.datasync());
      open = false;
      await this.io(`close snapshot ${tempPath}`, () => file.close());
      await this.io(`rename snapshot ${tempPath}`, () => this.fs.rename(tempPath, path));
      await this.io(`fsync ${this.dir}`, () => this.fs.syncDir(this.dir));
      return { path, bytes };
    } catch (error) {
      if (open) await file.close().catch(() => undefined);
      await this.fs.unlink(tempPath).catch(() => undefined);
      throw error;
    }
  }

  /** Reads the header and checks it against the file name. */
  private async checkedMeta(reader: SnapshotReader, path: string): Promise<SnapshotMeta> {
    const meta = await reader.readMeta();
    const named = parseSnapshotName(path.slice(path.lastIndexOf('/') + 1));
    if (named && (named.index !== meta.index || named.term !== meta.term)) {
      throw new SnapshotCorruptionError(path, 0, `header says index ${meta.index} term ${meta.term}, unlike the file name`);
    }
    return meta;
  }

  private async withFile<T>(path: string, use: (file: StorageFile, size: number) => Promise<T>): Promise<T> {
    const file = await this.io(`open snapshot ${path}`, () => this.fs.open(path, 'r'));
    try {
      return await use(file, await this.io(`stat snapshot ${path}`, () => file.size()));
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  private async io<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw storageFailure(error, action);
    }
  }
}

/**
 * Verifies a received snapshot stream: its header must announce `meta`; every record's checksum and
 * the trailer are checked as they come, each batch handed to `onRecords`.
 */
export async function readReceived(reader: SnapshotReader, meta: SnapshotMeta, label: string, onRecords?: (records: Uint8Array[]) => void): Promise<void> {
  const received = await reader.readMeta();
  if (!sameSnapshotMeta(received, meta)) {
    throw new SnapshotCorruptionError(label, 0, `the header describes index ${received.index} term ${received.term}, not the snapshot announced`);
  }
  for await (const batch of reader.records()) onRecords?.(batch);
}

/** Snapshot file names in `names`, newest first. */
export function snapshotNames(names: readonly string[]): { name: string; index: number; term: number }[] {
  const found: { name: string; index: number; term: number }[] = [];
  for (const name of names) {
    const parsed = parseSnapshotName(name);
    if (parsed) found.push({ name, ...parsed });
  }
  return found.sort(newestFirst);
}

/** The first `size` bytes of a file, as chunks (fresh buffers, so they may be kept). */
async function* fileChunks(file: StorageFile, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < size; ) {
    const chunk = Buffer.allocUnsafe(Math.min(SNAPSHOT_CHUNK_BYTES, size - at));
    let count: number;
    try {
      count = await file.read(chunk, 0, chunk.length, at);
    } catch (error) {
      throw storageFailure(error, 'read a snapshot file');
    }
    if (count === 0) return;
    yield chunk.subarray(0, count);
    at += count;
  }
}
