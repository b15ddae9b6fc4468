/** Shared helpers of the storage tests: temp dirs, entries, and a fault-injecting fs facade. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { nodeFs, type OpenFlags, type StorageFile, type StorageFs } from '../../src/storage/index.js';

const dirs: string[] = [];

/** A fresh directory under os.tmpdir(), removed by removeTempDirs(). */
export async function tempDir(prefix = 'conclave-storage-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** An entry whose data (`size` bytes) is derived from its index and term, so copies compare equal. */
export function entry(index: number, term = 1, size = 150): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { term, index, type: index % 5 === 0 ? EntryType.ConfChange : EntryType.Normal, data };
}

export function entries(from: number, to: number, term = 1, size = 150): Entry[] {
  const list: Entry[] = [];
  for (let index = from; index <= to; index++) list.push(entry(index, term, size));
  return list;
}

/** Compares entries field by field (data as bytes, whatever its Uint8Array subclass). */
export function assertEntries(actual: readonly Entry[], expected: readonly Entry[]): void {
  const plain = (list: readonly Entry[]) =>
    list.map((e) => ({ term: e.term, index: e.index, type: e.type, data: Buffer.from(e.data).toString('hex') }));
  assert.deepEqual(plain(actual), plain(expected));
}

export type FaultOp = 'open' | 'writev' | 'datasync' | 'truncate' | 'rename' | 'syncDir' | 'unlink' | 'read';

export interface Fault {
  op: FaultOp;
  code: string;
  /** only for paths containing this */
  pathIncludes?: string;
  /** writev only: bytes that really reach the file before the call fails */
  partialBytes?: number;
  /** how many calls fail (default 1) */
  times?: number;
}

function errnoError(code: string, op: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected failure, ${op} '${path}'`), { code });
}

/**
 * Wraps the real file system: counts calls, injects errno failures, and can hold fdatasync. A write
 * to a file opened with O_DSYNC (r+d, w+d) counts as a writev and a datasync, and its sync part
 * waits at the gate and fails with 'datasync' faults after the bytes reached the file, as a real
 * O_DSYNC write whose flush fails would.
 */
export class FaultyFs implements StorageFs {
  /** syncs of file data: datasync() calls and O_DSYNC writes */
  datasyncs = 0;
  /** datasync() calls alone */
  datasyncCalls = 0;
  writevs = 0;
  readonly syncedDirs: string[] = [];
  /** while set, every datasync waits for it before syncing */
  syncGate: Promise<void> | undefined;
  /** resolves each time a datasync starts waiting at the gate */
  onSyncWaiting: (() => void) | undefined;
  private readonly faults: Fault[] = [];

  constructor(private readonly inner: StorageFs = nodeFs) {}

  fail(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Throws the first matching fault, if any. */
  check(op: FaultOp, path: string): Fault | undefined {
    const fault = this.faults.find((f) => f.op === op && (f.pathIncludes === undefined || path.includes(f.pathIncludes)));
    if (!fault) return undefined;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return fault;
  }

  private throwIfFaulty(op: FaultOp, path: string): void {
    const fault = this.check(op, path);
    if (fault) throw errnoError(fault.code, op, path);
  }

  async open(path: string, flags: OpenFlags): Promise<StorageFile> {
    this.throwIfFaulty('open', path);
    return new FaultyFile(this, path, await this.inner.open(path, flags));
  }

  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }

  mkdirp(dir: string): Promise<string | undefined> {
    return this.inner.mkdirp(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    this.throwIfFaulty('rename', from);
    return this.inner.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.throwIfFaulty('unlink', path);
    return this.inner.unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    this.throwIfFaulty('syncDir', dir);
    this.syncedDirs.push(dir);
    return this.inner.syncDir(dir);
  }

  createReadStream(path: string) {
    return this.inner.createReadStream(path);
  }

  async beforeDatasync(path: string): Promise<void> {
    if (this.syncGate) {
      this.onSyncWaiting?.();
      await this.syncGate;
    }
    this.throwIfFaulty('datasync', path);
  }
}

class FaultyFile implements StorageFile {
  constructor(
    private readonly fs: FaultyFs,
    private readonly path: string,
    private readonly inner: StorageFile,
  ) {}

  get durableWrites(): boolean {
    return this.inner.durableWrites;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const fault = this.fs.check('read', this.path);
    if (fault) return Promise.reject(errnoError(fault.code, 'read', this.path));
    return this.inner.read(buffer, offset, length, position);
  }

  async writev(buffers: readonly Uint8Array[], position: number): Promise<number> {
    this.fs.writevs++;
    const fault = this.fs.check('writev', this.path);
    if (fault) {
      if (fault.partialBytes) await this.inner.writev([Buffer.concat(buffers).subarray(0, fault.partialBytes)], position);
      throw errnoError(fault.code, 'writev', this.path);
    }
    const written = await this.inner.writev(buffers, position);
    if (this.inner.durableWrites) {
      await this.fs.beforeDatasync(this.path);
      this.fs.datasyncs++;
    }
    return written;
  }

  async datasync(): Promise<void> {
    await this.fs.beforeDatasync(this.path);
    this.fs.datasyncs++;
    this.fs.datasyncCalls++;
    return this.inner.datasync();
  }

  async truncate(length: number): Promise<void> {
    const fault = this.fs.check('truncate', this.path);
    if (fault) throw errnoError(fault.code, 'truncate', this.path);
    return this.inner.truncate(length);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Resolves after pending I/O callbacks and microtasks have had a chance to run. */
export function settle(ms = 5): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
