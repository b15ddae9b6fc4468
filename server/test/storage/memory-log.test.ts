import assert from 'node:assert/strict';
import { MemoryLogDisk, MemoryLogStore, StorageFullError } from '../../src/storage/index.js';
import { assertEntries, entries } from './helpers.js';
import { logStoreContract } from './log-contract.js';

describe('storage: MemoryLogStore', () => {
  logStoreContract(async () => {
    const disk = new MemoryLogDisk();
    return () => MemoryLogStore.open(disk);
  });

  it('fails writes while the disk has a failure set, changing nothing', async () => {
    const disk = new MemoryLogDisk();
    const { wal } = await MemoryLogStore.open(disk);
    await wal.append(entries(1, 2));
    disk.failure = new StorageFullError('full');
    await assert.rejects(wal.append(entries(3, 3)), StorageFullError);
    disk.failure = undefined;
    await wal.append(entries(3, 4));
    const { recovered } = await MemoryLogStore.open(disk);
    assertEntries(recovered.entries, entries(1, 4));
  });

  it('does not share entry buffers with the caller', async () => {
    const disk = new MemoryLogDisk();
    const { wal } = await MemoryLogStore.open(disk);
    const written = entries(1, 1);
    await wal.append(written);
    written[0]!.data[0] = 255 - written[0]!.data[0]!;
    const { recovered } = await MemoryLogStore.open(disk);
    assertEntries(recovered.entries, entries(1, 1));
  });
});
