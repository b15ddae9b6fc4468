/** Behaviour every LogStore must share (run against Wal and MemoryLogStore). */
import assert from 'node:assert/strict';
import type { LogStore, RecoveredLog } from '../../src/storage/index.js';
import { InvalidLogWriteError, WalClosedError } from '../../src/storage/index.js';
import { assertEntries, entries, entry } from './helpers.js';

/** Opens the same storage again each time it is called, as a restart would. */
export type Reopen = () => Promise<{ wal: LogStore; recovered: RecoveredLog }>;

const CONF = { voters: [1, 2, 3], learners: [4] };

export function logStoreContract(makeReopen: () => Promise<Reopen>): void {
  let reopen: Reopen;
  beforeEach(async () => {
    reopen = await makeReopen();
  });

  async function restart(wal: LogStore): Promise<{ wal: LogStore; recovered: RecoveredLog }> {
    await wal.close();
    return reopen();
  }

  it('starts empty', async () => {
    const { wal, recovered } = await reopen();
    assert.deepEqual(recovered, { entries: [], firstIndex: 1, lastIndex: 0 });
    await wal.close();
  });

  it('recovers appended entries and the latest hard state', async () => {
    const { wal } = await reopen();
    await wal.append(entries(1, 3), { term: 1, vote: 2, commit: 0 });
    await wal.append(entries(4, 10, 2), { term: 2, vote: 0, commit: 3 });
    await wal.append([], { term: 2, vote: 0, commit: 9 });
    const { wal: again, recovered } = await restart(wal);
    assertEntries(recovered.entries, [...entries(1, 3), ...entries(4, 10, 2)]);
    assert.deepEqual(recovered.hardState, { term: 2, vote: 0, commit: 9 });
    assert.equal(recovered.firstIndex, 1);
    assert.equal(recovered.lastIndex, 10);
    assert.equal(recovered.snapshot, undefined);
    await again.close();
  });

  it('overwrites a conflicting suffix, dropping what followed it', async () => {
    const { wal } = await reopen();
    await wal.append(entries(1, 10));
    await wal.append(entries(6, 7, 2));
    let { wal: again, recovered } = await restart(wal);
    assertEntries(recovered.entries, [...entries(1, 5), ...entries(6, 7, 2)]);
    assert.equal(recovered.lastIndex, 7);
    await again.append(entries(8, 9, 3));
    await again.append(entries(2, 2, 4));
    ({ wal: again, recovered } = await restart(again));
    assertEntries(recovered.entries, [entry(1), entry(2, 4)]);
    await again.close();
  });

  it('keeps only entries after the latest snapshot marker', async () => {
    const { wal } = await reopen();
    await wal.append(entries(1, 10));
    await wal.saveSnapshotMarker({ index: 6, term: 1, conf: CONF });
    let { wal: again, recovered } = await restart(wal);
    assert.deepEqual(recovered.snapshot, { index: 6, term: 1, conf: CONF });
    assertEntries(recovered.entries, entries(7, 10));
    assert.equal(recovered.firstIndex, 7);
    assert.equal(recovered.lastIndex, 10);

    // A snapshot from the leader beyond the log: the log continues right after it.
    await again.saveSnapshotMarker({ index: 50, term: 3, conf: CONF });
    await again.append(entries(51, 52, 3));
    ({ wal: again, recovered } = await restart(again));
    assert.equal(recovered.snapshot?.index, 50);
    assertEntries(recovered.entries, entries(51, 52, 3));
    assert.equal(recovered.firstIndex, 51);
    assert.equal(recovered.lastIndex, 52);
    await again.close();
  });

  it('reports a snapshot with no entries after it', async () => {
    const { wal } = await reopen();
    await wal.append(entries(1, 3));
    await wal.saveSnapshotMarker({ index: 20, term: 2, conf: CONF });
    const { wal: again, recovered } = await restart(wal);
    assert.deepEqual(recovered.entries, []);
    assert.equal(recovered.firstIndex, 21);
    assert.equal(recovered.lastIndex, 20);
    await again.close();
  });

  it('refuses invalid writes and stays usable', async () => {
    const { wal } = await reopen();
    await wal.append(entries(1, 5));
    await wal.saveSnapshotMarker({ index: 3, term: 1, conf: CONF });
    await assert.rejects(wal.append(entries(7, 8)), InvalidLogWriteError, 'gap');
    await assert.rejects(wal.append(entries(3, 4)), InvalidLogWriteError, 'below the snapshot');
    await assert.rejects(wal.append([entry(6), entry(8)]), InvalidLogWriteError, 'not contiguous');
    await assert.rejects(wal.append([{ ...entry(6), term: -1 }]), InvalidLogWriteError, 'negative term');
    await assert.rejects(wal.append([{ ...entry(6), index: 2 ** 53 }]), InvalidLogWriteError, 'index too large');
    await assert.rejects(wal.append([entry(6)], { term: 1, vote: 1.5, commit: 0 }), InvalidLogWriteError, 'fractional vote');
    await assert.rejects(wal.saveSnapshotMarker({ index: 2, term: 1, conf: CONF }), InvalidLogWriteError, 'marker going back');
    await wal.append(entries(6, 6));
    const { wal: again, recovered } = await restart(wal);
    assertEntries(recovered.entries, entries(4, 6));
    await again.close();
  });

  it('keeps what the snapshot does not cover after releaseBefore', async () => {
    const { wal } = await reopen();
    for (let i = 1; i <= 100; i += 10) await wal.append(entries(i, i + 9), { term: 1, vote: 1, commit: i });
    await wal.releaseBefore(80);
    await wal.saveSnapshotMarker({ index: 60, term: 1, conf: CONF });
    await wal.releaseBefore(80);
    const { wal: again, recovered } = await restart(wal);
    assert.equal(recovered.snapshot?.index, 60);
    assert.deepEqual(recovered.hardState, { term: 1, vote: 1, commit: 91 });
    assertEntries(recovered.entries, entries(61, 100));
    await again.close();
  });

  it('fails calls after close', async () => {
    const { wal } = await reopen();
    await wal.close();
    await assert.rejects(wal.append(entries(1, 1)), WalClosedError);
  });
}
