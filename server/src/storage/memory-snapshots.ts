/**
 * In-memory SnapshotFiles for simulation and tests: the same file format and verification as
 * SnapshotStore, with each snapshot held as one buffer under a virtual path.
 */
import { Readable } from 'node:stream';
import type { SnapshotMeta } from '../raft/types.js';
import { checkSnapshotMeta } from './codec.js';
import { SnapshotReader, encodeSnapshot, snapshotName } from './snapshot-format.js';
import { readReceived, snapshotNames, type SnapshotFiles, type SnapshotInfo, type SnapshotRecords, type SnapshotWriteOptions } from './snapshot-store.js';

const ROOT = 'memory:/';

export class MemorySnapshotFiles implements SnapshotFiles {
  /** file name -> file bytes; exposed so tests can corrupt a snapshot */
  readonly files = new Map<string, Buffer>();

  async write(meta: SnapshotMeta, records: SnapshotRecords, options: SnapshotWriteOptions = {}): Promise<{ path: string; bytes: number }> {
    checkSnapshotMeta(meta);
    const chunks: Uint8Array[] = [];
    for await (const chunk of encodeSnapshot(meta, records)) {
      options.onChunk?.(chunk);
      chunks.push(chunk);
    }
    const bytes = Buffer.concat(chunks);
    this.files.set(snapshotName(meta), bytes);
    return { path: ROOT + snapshotName(meta), bytes: bytes.length };
  }

  async receive(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>, onRecords?: (records: Uint8Array[]) => void): Promise<string> {
    checkSnapshotMeta(meta);
    const label = `${snapshotName(meta)} (received)`;
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    const bytes = Buffer.concat(parts);
    await readReceived(new SnapshotReader([bytes], label, bytes.length), meta, label, onRecords);
    this.files.set(snapshotName(meta), bytes);
    return ROOT + snapshotName(meta);
  }

  async list(): Promise<SnapshotInfo[]> {
    const infos: SnapshotInfo[] = [];
    for (const { name } of snapshotNames([...this.files.keys()])) {
      const bytes = this.files.get(name)!;
      const meta = await new SnapshotReader([bytes], ROOT + name, bytes.length).readMeta();
      infos.push({ meta, path: ROOT + name, bytes: bytes.length });
    }
    return infos;
  }

  async latest(): Promise<SnapshotInfo | undefined> {
    return (await this.list())[0];
  }

  async *read(path: string): AsyncGenerator<Uint8Array[]> {
    const bytes = this.bytesOf(path);
    const reader = new SnapshotReader([bytes], path, bytes.length);
    await reader.readMeta();
    yield* reader.records();
  }

  async prune(keep = 2): Promise<string[]> {
    const removed = snapshotNames([...this.files.keys()]).slice(keep);
    for (const { name } of removed) this.files.delete(name);
    return removed.map(({ name }) => ROOT + name);
  }

  openForSend(path: string): Readable {
    return Readable.from([this.bytesOf(path)]);
  }

  private bytesOf(path: string): Buffer {
    const bytes = path.startsWith(ROOT) ? this.files.get(path.slice(ROOT.length)) : undefined;
    if (!bytes) throw Object.assign(new Error(`ENOENT: no snapshot ${path}`), { code: 'ENOENT' });
    return bytes;
  }
}
