import assert from 'node:assert/strict';
import {
  ConfChangeType,
  EntryType,
  ErrCompacted,
  ErrSnapOutOfDate,
  ErrUnavailable,
  InvalidConfChangeError,
  MemoryStorage,
  RaftInvariantError,
  decodeConfChange,
  encodeConfChange,
  entrySize,
  type Entry,
} from '../../src/raft/index.js';

function entry(index: number, term: number, size = 0): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(size) };
}

function terms(ents: Entry[]): number[] {
  return ents.map((e) => e.term);
}

describe('raft MemoryStorage', () => {
  it('starts empty at index 0, term 0', () => {
    const s = new MemoryStorage();
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.deepEqual(s.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: { voters: [], learners: [] } });
  });

  it('bootstraps a founding configuration as a snapshot at index 0', () => {
    const s = new MemoryStorage();
    s.applySnapshot({ index: 0, term: 0, conf: { voters: [1, 2, 3], learners: [] } });
    assert.deepEqual(s.initialState().confState, { voters: [1, 2, 3], learners: [] });
    assert.equal(s.lastIndex(), 0);
  });

  it('appends, and replaces a conflicting suffix', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
    s.append([entry(3, 3)]);
    assert.equal(s.lastIndex(), 3);
    assert.deepEqual(terms(s.entries(1, 4, Infinity)), [1, 1, 3]);
    s.append([entry(2, 1), entry(3, 3), entry(4, 3)]);
    assert.deepEqual(terms(s.entries(1, 5, Infinity)), [1, 1, 3, 3]);
    assert.throws(() => s.append([entry(7, 3)]), RaftInvariantError);
  });

  it('limits entries by size but always returns one', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1, 100), entry(2, 1, 100), entry(3, 1, 100)]);
    const one = entrySize(entry(1, 1, 100));
    assert.equal(s.entries(1, 4, 0).length, 1);
    assert.equal(s.entries(1, 4, one).length, 1);
    assert.equal(s.entries(1, 4, 2 * one).length, 2);
    assert.equal(s.entries(1, 4, Infinity).length, 3);
  });

  it('snapshots, compacts, and reports compacted and unavailable indexes', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 3)]);
    assert.throws(() => s.compact(2), RaftInvariantError, 'compaction beyond the snapshot');
    const meta = s.createSnapshot(3, { voters: [1], learners: [2] });
    assert.deepEqual(meta, { index: 3, term: 2, conf: { voters: [1], learners: [2] } });
    s.compact(2);
    assert.equal(s.firstIndex(), 3);
    assert.equal(s.term(2), 1);
    assert.throws(() => s.term(1), ErrCompacted);
    assert.throws(() => s.entries(2, 4, Infinity), ErrCompacted);
    assert.throws(() => s.term(6), ErrUnavailable);
    assert.throws(() => s.entries(3, 7, Infinity), ErrUnavailable);
    assert.deepEqual(terms(s.entries(3, 6, Infinity)), [2, 2, 3]);
    assert.throws(() => s.createSnapshot(3, { voters: [1], learners: [] }), ErrSnapOutOfDate);
    s.compact(3);
    assert.throws(() => s.compact(3), ErrCompacted);
    // Appending entries already compacted away is a no-op for them.
    s.append([entry(3, 2), entry(4, 2), entry(5, 3), entry(6, 3)]);
    assert.equal(s.lastIndex(), 6);
    assert.equal(s.firstIndex(), 4);
  });

  it('applies a snapshot from the leader, dropping the log', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1)]);
    s.applySnapshot({ index: 10, term: 4, conf: { voters: [1, 2], learners: [] } });
    assert.equal(s.firstIndex(), 11);
    assert.equal(s.lastIndex(), 10);
    assert.equal(s.term(10), 4);
    assert.throws(() => s.applySnapshot({ index: 9, term: 4, conf: { voters: [1], learners: [] } }), ErrSnapOutOfDate);
    s.append([entry(11, 4)]);
    assert.equal(s.lastIndex(), 11);
  });

  it('counts the bytes it holds through appends, replaced suffixes, compaction and snapshots', () => {
    const s = new MemoryStorage();
    const size = (n: number) => entrySize(entry(0, 0, n));
    s.append([entry(1, 1, 100), entry(2, 1, 200), entry(3, 1, 300)]);
    assert.equal(s.byteSize(), size(100) + size(200) + size(300));
    s.append([entry(3, 2, 50), entry(4, 2, 10)]);
    assert.equal(s.byteSize(), size(100) + size(200) + size(50) + size(10));
    s.createSnapshot(2, { voters: [1], learners: [] });
    s.compact(1);
    assert.equal(s.byteSize(), size(200) + size(50) + size(10));
    s.applySnapshot({ index: 9, term: 3, conf: { voters: [1], learners: [] } });
    assert.equal(s.byteSize(), 0);
  });

  it('releases the oldest entries down to a byte budget, never past the index it is given, and past the snapshot', () => {
    const s = new MemoryStorage();
    s.append([1, 2, 3, 4, 5, 6].map((i) => entry(i, i < 4 ? 1 : 2, 1000)));
    const one = entrySize(entry(0, 0, 1000));
    assert.equal(s.release(10 * one, 6), 0, 'within the budget: nothing released');
    assert.equal(s.release(2 * one, 3), 3, 'stops at the index given');
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.term(3), 1, 'the last released entry keeps its term, for matching');
    assert.equal(s.byteSize(), 3 * one);
    assert.equal(s.snapshot().index, 0, 'no snapshot covers the released entries');
    assert.equal(s.release(2 * one, 6), 1);
    assert.equal(s.firstIndex(), 5);
    assert.throws(() => s.entries(4, 6, Infinity), ErrCompacted);
    assert.deepEqual(terms(s.entries(5, 7, Infinity)), [2, 2]);
    assert.throws(() => s.release(0, 7), RaftInvariantError, 'beyond the last index');
    // A snapshot may still be taken at a held index, and compaction behind it is then a no-op.
    assert.deepEqual(s.createSnapshot(5, { voters: [1], learners: [] }).index, 5);
    s.append([entry(7, 2, 1000)]);
    assert.equal(s.lastIndex(), 7);
  });
});

describe('raft conf change codec', () => {
  it('round-trips, with and without context', () => {
    for (const cc of [
      { type: ConfChangeType.AddLearner, memberId: 4, context: new Uint8Array([1, 2, 3]) },
      { type: ConfChangeType.Promote, memberId: 300 },
      { type: ConfChangeType.Remove, memberId: 2 ** 40 },
    ]) {
      assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
    }
  });

  it('refuses malformed data', () => {
    assert.throws(() => decodeConfChange(new Uint8Array([9, 0, 1, 0])), InvalidConfChangeError);
    assert.throws(() => decodeConfChange(new Uint8Array([1, 7, 1, 0])), InvalidConfChangeError);
    assert.throws(() => decodeConfChange(new Uint8Array([1, 0, 1, 5, 1])), InvalidConfChangeError);
    assert.throws(() => decodeConfChange(new Uint8Array([1, 0])), InvalidConfChangeError);
  });
});
