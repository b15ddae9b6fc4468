import assert from 'node:assert/strict';
import { Wal } from '../../src/storage/index.js';
import { FaultyFs, assertEntries, entries, entry, removeTempDirs, settle, tempDir } from './helpers.js';

async function openCounted() {
  const fs = new FaultyFs();
  const dir = await tempDir();
  const { wal } = await Wal.open(dir, { fs, preallocate: false });
  return { fs, dir, wal, syncs0: fs.datasyncs, writes0: fs.writevs };
}

/** A gate that holds the next fdatasync: `waiting` resolves when one reaches it. */
function holdSyncs(fs: FaultyFs): { waiting: Promise<void>; release: () => void } {
  let release!: () => void;
  fs.syncGate = new Promise<void>((resolve) => (release = resolve));
  const waiting = new Promise<void>((resolve) => (fs.onSyncWaiting = resolve));
  return { waiting, release };
}

describe('storage: Wal group commit', () => {
  after(removeTempDirs);

  it('writes calls made in one tick with one O_DSYNC writev (no separate fdatasync)', async () => {
    const { fs, dir, wal, syncs0, writes0 } = await openCounted();
    const syncCalls0 = fs.datasyncCalls;
    const calls = [];
    for (let i = 1; i <= 200; i++) calls.push(wal.append([entry(i)], { term: 1, vote: 1, commit: i - 1 }));
    await Promise.all(calls);
    assert.equal(fs.datasyncs - syncs0, 1);
    assert.equal(fs.writevs - writes0, 1);
    assert.equal(fs.datasyncCalls - syncCalls0, 0, 'the write itself was durable (O_DSYNC)');
    await wal.close();
    const { wal: again, recovered } = await Wal.open(dir, { preallocate: false });
    assertEntries(recovered.entries, entries(1, 200));
    assert.deepEqual(recovered.hardState, { term: 1, vote: 1, commit: 199 });
    await again.close();
  });

  it('coalesces calls made during a sync into the next batch, resolving each only after its sync', async () => {
    const { fs, wal, syncs0, writes0 } = await openCounted();
    const resolved: number[] = [];
    const first = holdSyncs(fs);
    const a = wal.append([entry(1)]).then(() => resolved.push(1));
    await first.waiting;
    assert.equal(fs.writevs - writes0, 1, 'A is written and its sync is in flight');

    const b = wal.append([entry(2)]).then(() => resolved.push(2));
    const c = wal.append([entry(3)]).then(() => resolved.push(3));
    await settle();
    assert.deepEqual(resolved, [], 'nothing resolves before its fdatasync returns');
    assert.equal(fs.writevs - writes0, 1, 'B and C wait for the sync in flight');

    const second = holdSyncs(fs);
    first.release();
    await second.waiting;
    await settle();
    assert.deepEqual(resolved, [1], 'A is durable; B and C are written but not yet synced');
    assert.equal(fs.writevs - writes0, 2, 'B and C went out in one writev');

    fs.syncGate = undefined;
    second.release();
    await Promise.all([a, b, c]);
    assert.deepEqual(resolved, [1, 2, 3]);
    assert.equal(fs.datasyncs - syncs0, 2);
    await wal.close();
  });

  it('needs far fewer fdatasyncs than appends under concurrent writers', async () => {
    const { fs, dir, wal, syncs0 } = await openCounted();
    let next = 1;
    const writer = async () => {
      for (let i = 0; i < 50; i++) await wal.append([entry(next++)]);
    };
    await Promise.all(Array.from({ length: 20 }, writer));
    const syncs = fs.datasyncs - syncs0;
    assert.ok(syncs <= 1000 / 10, `${syncs} fdatasyncs for 1000 appends`);
    await wal.close();
    const { wal: again, recovered } = await Wal.open(dir, { preallocate: false });
    assertEntries(recovered.entries, entries(1, 1000));
    await again.close();
  });

  it('treats an empty append as a barrier behind earlier calls', async () => {
    const { fs, wal, syncs0 } = await openCounted();
    const order: string[] = [];
    const gate = holdSyncs(fs);
    const a = wal.append(entries(1, 1)).then(() => order.push('append'));
    await gate.waiting;
    const barrier = wal.append([]).then(() => order.push('barrier'));
    fs.syncGate = undefined;
    gate.release();
    await Promise.all([a, barrier]);
    assert.deepEqual(order, ['append', 'barrier']);
    assert.equal(fs.datasyncs - syncs0, 1, 'the barrier alone costs no sync');
    await wal.close();
  });
});
