/**
 * The narrow file-system facade that the storage layer does all its I/O through. The default is
 * node:fs/promises; tests inject a facade that counts syncs or fails with ENOSPC/EIO.
 */
import { constants, createReadStream, writev as writevFd } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * r: read; r+: read/write an existing file; w+: create or truncate, read/write. r+d and w+d are the
 * same with O_DSYNC: every write is durable when it returns, as if followed by fdatasync, in one
 * syscall (one thread-pool round trip instead of two for the WAL's appends).
 */
export type OpenFlags = 'r' | 'r+' | 'w+' | 'r+d' | 'w+d';

const OPEN_FLAGS: Record<OpenFlags, number> = {
  r: constants.O_RDONLY,
  'r+': constants.O_RDWR,
  'w+': constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
  'r+d': constants.O_RDWR | constants.O_DSYNC,
  'w+d': constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC,
};

/** Whether files opened with `flags` make each write durable by itself (O_DSYNC). */
function writesAreDurable(flags: OpenFlags): boolean {
  return flags.endsWith('d');
}

export interface StorageFile {
  /** opened with O_DSYNC (r+d, w+d): a write that returned is durable, no datasync needed */
  readonly durableWrites: boolean;
  /** Reads up to `length` bytes at `position` into `buffer` from `offset`; returns the count read. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** One positioned writev; may write fewer bytes than given (see writeFully). */
  writev(buffers: readonly Uint8Array[], position: number): Promise<number>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface StorageFs {
  open(path: string, flags: OpenFlags): Promise<StorageFile>;
  readdir(dir: string): Promise<string[]>;
  /** mkdir -p; returns the first directory it created, if any. */
  mkdirp(dir: string): Promise<string | undefined>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync of a directory, so that creates, renames and unlinks in it are durable. */
  syncDir(dir: string): Promise<void>;
  createReadStream(path: string): Readable;
}

class NodeFile implements StorageFile {
  constructor(
    private readonly handle: FileHandle,
    readonly durableWrites: boolean,
  ) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.handle.read(buffer, offset, length, position)).bytesRead;
  }

  /**
   * Through fs.writev on the handle's descriptor rather than FileHandle.writev: one promise instead
   * of the handle's chain of them (every WAL append comes through here; about 2 KB less garbage each).
   */
  writev(buffers: readonly Uint8Array[], position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      writevFd(this.handle.fd, buffers as Uint8Array[], position, (error, written) => (error ? reject(error) : resolve(written)));
    });
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

const READ_CHUNK_BYTES = 1 << 20;

export const nodeFs: StorageFs = {
  async open(path, flags) {
    return new NodeFile(await open(path, OPEN_FLAGS[flags], 0o666), writesAreDurable(flags));
  },
  readdir: (dir) => readdir(dir),
  mkdirp: (dir) => mkdir(dir, { recursive: true }),
  rename,
  unlink,
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  createReadStream: (path) => createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }),
};

/** Linux caps one writev at IOV_MAX buffers; beyond that, one concatenated buffer keeps it one call. */
const IOV_MAX = 1024;

/** Writes all of `buffers` at `position`, continuing after short writes. */
export async function writeFully(file: StorageFile, buffers: readonly Uint8Array[], position: number): Promise<number> {
  let pending = buffers.length > IOV_MAX ? [Buffer.concat(buffers)] : buffers.slice();
  let total = 0;
  for (const buffer of pending) total += buffer.length;
  let written = 0;
  while (written < total) {
    const count = await file.writev(pending, position + written);
    if (count <= 0) throw new Error(`writev wrote ${count} bytes`);
    written += count;
    pending = dropPrefix(pending, count);
  }
  return total;
}

function dropPrefix(buffers: readonly Uint8Array[], count: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
    } else {
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return rest;
}

/** Makes what was written to `file` durable: a no-op for files whose writes already are (O_DSYNC). */
export async function syncWrites(file: StorageFile): Promise<void> {
  if (!file.durableWrites) await file.datasync();
}

/** Reads a whole file into memory (used for WAL segments, which are bounded by segmentBytes). */
export async function readWhole(fs: StorageFs, path: string): Promise<Buffer> {
  const file = await fs.open(path, 'r');
  try {
    const size = await file.size();
    const buffer = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const count = await file.read(buffer, done, size - done, done);
      if (count === 0) break;
      done += count;
    }
    return done === size ? buffer : buffer.subarray(0, done);
  } finally {
    await file.close();
  }
}

/** Creates `dir` and missing parents durably: each new directory's entry is fsynced in its parent. */
export async function ensureDir(fs: StorageFs, dir: string): Promise<void> {
  const firstCreated = await fs.mkdirp(dir);
  if (firstCreated === undefined) return;
  for (let path = dir; ; path = dirname(path)) {
    await fs.syncDir(dirname(path));
    if (path === firstCreated) return;
  }
}
