/**
 * Random operation sequences (fast-check) against a plain reference model of a Raft log, on the
 * real Wal with tiny segments (so rotation and release happen often) and on MemoryLogStore.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Entry, HardState, SnapshotMeta } from '../../src/raft/types.js';
import { MemoryLogDisk, MemoryLogStore, Wal, type LogStore, type RecoveredLog } from '../../src/storage/index.js';
import { ENTRY_GATHER_MIN_BYTES } from '../../src/storage/wal-format.js';
import { assertEntries, entry, removeTempDirs, tempDir } from './helpers.js';

type Op =
  | { kind: 'append'; back: number; count: number; term: number; hardState: boolean }
  | { kind: 'snapshot'; ahead: number }
  | { kind: 'release'; ahead: number }
  | { kind: 'restart' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), count: fc.integer({ min: 0, max: 6 }), term: fc.integer({ min: 1, max: 9 }), hardState: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), ahead: fc.integer({ min: -3, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), ahead: fc.integer({ min: -5, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
);

/** The reference: an index -> entry array, the latest hard state and snapshot. */
class Model {
  log: Entry[] = [];
  hardState: HardState | undefined;
  snapshot: SnapshotMeta | undefined;
  get snapshotIndex() {
    return this.snapshot?.index ?? 0;
  }
  get lastIndex() {
    return Math.max(this.snapshotIndex, this.log.length);
  }
  expected(): RecoveredLog {
    const list: Entry[] = [];
    for (let index = this.snapshotIndex + 1; index <= this.log.length; index++) list.push(this.log[index - 1]!);
    return { entries: list, firstIndex: this.snapshotIndex + 1, lastIndex: this.lastIndex };
  }
}

async function run(ops: Op[], open: () => Promise<{ wal: LogStore; recovered: RecoveredLog }>): Promise<void> {
  const model = new Model();
  let { wal } = await open();
  let commit = 0;
  const check = (recovered: RecoveredLog) => {
    const expected = model.expected();
    assertEntries(recovered.entries, expected.entries);
    assert.equal(recovered.firstIndex, expected.firstIndex);
    assert.equal(recovered.lastIndex, expected.lastIndex);
    assert.deepEqual(recovered.hardState, model.hardState);
    assert.deepEqual(recovered.snapshot, model.snapshot);
  };
  for (const step of ops) {
    if (step.kind === 'append') {
      const from = Math.max(model.snapshotIndex + 1, model.lastIndex + 1 - step.back);
      // Mostly small entries, every seventh one large enough to be written from its own buffer.
      const size = (index: number) => (index % 7 === 3 ? ENTRY_GATHER_MIN_BYTES + ((index * 131) % 3000) : index % 40);
      const list = Array.from({ length: step.count }, (_, i) => entry(from + i, step.term, size(from + i)));
      const hardState = step.hardState ? { term: step.term, vote: step.term % 3, commit: commit++ } : undefined;
      await wal.append(list, hardState);
      if (list.length > 0) {
        if (model.log.length < from - 1) model.log.length = 0;
        model.log.length = from - 1;
        model.log.push(...list);
      }
      if (hardState) model.hardState = hardState;
    } else if (step.kind === 'snapshot') {
      const index = Math.max(model.snapshotIndex, model.lastIndex + step.ahead);
      const meta = { index, term: 1, conf: { voters: [1, 2, 3], learners: [] } };
      await wal.saveSnapshotMarker(meta);
      model.snapshot = meta;
    } else if (step.kind === 'release') {
      await wal.releaseBefore(Math.max(1, model.snapshotIndex + step.ahead));
    } else {
      await wal.close();
      const reopened = await open();
      wal = reopened.wal;
      check(reopened.recovered);
    }
  }
  await wal.close();
  const final = await open();
  check(final.recovered);
  await final.wal.close();
}

describe('storage: log stores against a reference model', () => {
  after(removeTempDirs);

  it('Wal with 512-byte segments recovers what the model holds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const dir = await tempDir();
        await run(ops, () => Wal.open(dir, { segmentBytes: 512, preallocate: false }));
      }),
      { numRuns: 40 },
    );
  });

  it('MemoryLogStore recovers what the model holds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const disk = new MemoryLogDisk();
        await run(ops, () => MemoryLogStore.open(disk));
      }),
      { numRuns: 200 },
    );
  });
});
