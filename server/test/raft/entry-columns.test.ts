import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EntryColumns } from '../../src/raft/entry-columns.js';
import { EntryType, type Entry } from '../../src/raft/index.js';

/** Data of `length` bytes whose content tells entries apart. */
function data(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i) & 0xff;
  return bytes;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

type Op = { kind: 'push'; length: number; term: number; conf: boolean } | { kind: 'truncate'; keep: number } | { kind: 'drop'; n: number } | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('push' as const), length: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 300_000 }).map((n) => n % 2000) }, { weight: 1, arbitrary: fc.integer({ min: 65_000, max: 70_000 }) }, { weight: 1, arbitrary: fc.constant(0) }), term: fc.integer({ min: 1, max: 2 ** 40 }), conf: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat(40) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), n: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

describe('raft EntryColumns', () => {
  it('holds what a plain array of entries would, and never changes a view it handed out', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const columns = new EntryColumns();
        const model: Entry[] = [];
        const handedOut: { view: Uint8Array; expected: Uint8Array }[] = [];
        let seed = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const e: Entry = { term: o.term, index: 0, type: o.conf ? EntryType.ConfChange : EntryType.Normal, data: data(++seed, o.length) };
            columns.push(e);
            model.push(e);
          } else if (o.kind === 'truncate') {
            columns.truncate(o.keep);
            model.length = Math.min(model.length, o.keep);
          } else if (o.kind === 'drop') {
            columns.dropFirst(o.n);
            model.splice(0, o.n);
          } else {
            columns.clear();
            model.length = 0;
          }
          assert.equal(columns.length, model.length);
          for (let i = 0; i < model.length; i++) {
            const got = columns.get(i, 100 + i);
            assert.equal(got.index, 100 + i);
            assert.equal(got.term, model[i]!.term);
            assert.equal(got.type, model[i]!.type);
            assert.equal(columns.term(i), model[i]!.term);
            assert.equal(columns.dataLength(i), model[i]!.data.length);
            assert.ok(same(got.data, model[i]!.data), `entry ${i}'s data`);
            if (i === 0 && got.data.length > 0) handedOut.push({ view: got.data, expected: model[i]!.data.slice() });
          }
          for (const { view, expected } of handedOut) assert.ok(same(view, expected), 'a view handed out changed');
        }
      }),
      { numRuns: 60 },
    );
  });

  it('copies small data out of the entry, holds large data as it is', () => {
    const columns = new EntryColumns();
    const small = data(1, 100);
    const large = data(2, 100_000);
    columns.push({ term: 1, index: 1, type: EntryType.Normal, data: small });
    columns.push({ term: 1, index: 2, type: EntryType.Normal, data: large });
    small.fill(0);
    assert.deepEqual(columns.get(0, 1).data, data(1, 100), 'a change to the proposer\'s buffer does not reach the log');
    assert.equal(columns.get(1, 2).data.buffer, large.buffer);
  });

  it('lets go of the slabs no entry held lies in', () => {
    const columns = new EntryColumns();
    // 20 entries of 100 KB each in buffers of their own, then 3 MB of small ones (3 slabs of 1 MiB).
    for (let i = 0; i < 20; i++) columns.push({ term: 1, index: 0, type: EntryType.Normal, data: data(i, 100_000) });
    for (let i = 0; i < 3000; i++) columns.push({ term: 1, index: 0, type: EntryType.Normal, data: data(i, 1000) });
    assert.equal(columns.slabCount, 20 + 3);
    columns.dropFirst(20);
    assert.equal(columns.slabCount, 3);
    columns.dropFirst(2000);
    assert.equal(columns.slabCount, 2);
    columns.dropFirst(1000);
    assert.equal(columns.length, 0);
    assert.equal(columns.slabCount, 0);
  });
});
