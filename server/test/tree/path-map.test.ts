/**
 * PathMap against V8's Map: random sets, adds, deletes, lookups and reservations (a small alphabet of keys, so that
 * keys come back after their delete and runs of slots form), the same answers and the same order
 * of iteration after every step; growth, compaction, and the way out of a hash that floods.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PathMap } from '../../src/tree/path-map.js';

/** A table with a hash of the test's choosing: a constant one puts every key in one run of slots. */
class HashedMap<V> extends PathMap<V> {
  constructor(private readonly hashOf: (key: string) => number) {
    super();
  }
  protected override hash(key: string): number {
    return this.hashOf(key);
  }
}

type Step = { t: 'reserve'; count: number } | { t: 'set'; key: string; value: number } | { t: 'add'; key: string; value: number } | { t: 'delete'; key: string } | { t: 'get'; key: string } | { t: 'bulk'; from: number; count: number; del: boolean };

const key = fc.oneof(
  fc.constantFrom('/', '/a', '/a/b', '/b', '/a/b/c', '/conclave'),
  fc.nat(3000).map((n) => `/bench/tree/d${n % 7}/n${n}`),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('set' as const), key, value: fc.integer() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('add' as const), key, value: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reserve' as const), count: fc.nat(5000) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('delete' as const), key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('get' as const), key }) },
  // a run of keys set or deleted at once: growth, and enough holes to compact
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bulk' as const), from: fc.nat(3000), count: fc.integer({ min: 1, max: 2500 }), del: fc.boolean() }) },
);

function check(map: PathMap<number>, model: Map<string, number>): void {
  assert.equal(map.size, model.size);
  assert.deepEqual([...map.entries()], [...model.entries()]);
}

function run(map: PathMap<number>, steps: Step[]): void {
  const model = new Map<string, number>();
  for (const s of steps) {
    if (s.t === 'reserve') {
      map.reserve(s.count);
    } else if (s.t === 'set') {
      map.set(s.key, s.value);
      model.set(s.key, s.value);
    } else if (s.t === 'add') {
      const absent = !model.has(s.key);
      assert.equal(map.add(s.key, s.value), absent);
      if (absent) model.set(s.key, s.value);
    } else if (s.t === 'delete') {
      assert.equal(map.delete(s.key), model.delete(s.key));
    } else if (s.t === 'get') {
      assert.equal(map.get(s.key), model.get(s.key));
      assert.equal(map.has(s.key), model.has(s.key));
    } else {
      for (let n = s.from; n < s.from + s.count; n++) {
        const k = `/bench/tree/d${n % 7}/n${n}`;
        if (s.del) assert.equal(map.delete(k), model.delete(k));
        else {
          map.set(k, n);
          model.set(k, n);
        }
      }
    }
    for (const k of ['/', '/a', '/bench/tree/d0/n0']) assert.equal(map.get(k), model.get(k));
  }
  check(map, model);
  for (const [k, v] of model) assert.equal(map.get(k), v);
}

describe('PathMap', () => {
  it('answers and iterates as a Map does, through growth, deletes and compaction (property)', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => run(new PathMap<number>(), steps)),
      { numRuns: 200 },
    );
  });

  it('keeps a key set again in its place, and a deleted key set again at the end', () => {
    const map = new PathMap<number>();
    for (const k of ['/', '/a', '/b', '/c']) map.set(k, 1);
    map.set('/a', 2);
    map.delete('/b');
    map.set('/b', 3);
    assert.deepEqual([...map], [['/', 1], ['/a', 2], ['/c', 1], ['/b', 3]]);
  });

  it('drops the holes of deleted keys once they outnumber the live ones, keeping the order', () => {
    const map = new PathMap<number>();
    for (let i = 0; i < 10_000; i++) map.set(`/k${i}`, i);
    for (let i = 0; i < 10_000; i++) if (i % 10 !== 0) map.delete(`/k${i}`);
    assert.equal(map.size, 1_000);
    assert.deepEqual([...map.entries()].map(([, v]) => v), Array.from({ length: 1_000 }, (_, i) => i * 10));
    // compacted (a white-box look, to know it happened): of the 9,000 holes, the last few hundred
    // deletes' are left, fewer than the live entries
    const held = (map as unknown as { keys: unknown[] }).keys.length;
    assert.ok(held >= 1_000 && held < 2_000, `${held} entries held`);
    for (let i = 0; i < 10_000; i++) assert.equal(map.get(`/k${i}`), i % 10 === 0 ? i : undefined);
  });

  it('refuses to go on iterating once its entries moved', () => {
    const map = new PathMap<number>();
    for (let i = 0; i < 3_000; i++) map.set(`/k${i}`, i);
    const walk = map.entries();
    walk.next();
    for (let i = 0; i < 3_000; i++) map.delete(`/k${i}`);
    assert.throws(() => walk.next(), /changed its layout while iterated/);
  });

  it('hands its entries to a Map when no seed spreads the keys (hash flooding), and stays correct', () => {
    const steps: Step[] = [];
    for (let i = 0; i < 400; i++) steps.push({ t: 'set', key: `/f/${i}`, value: i });
    for (let i = 0; i < 400; i += 3) steps.push({ t: 'delete', key: `/f/${i}` });
    const flooded = new HashedMap<number>(() => 7);
    run(flooded, steps);
    assert.equal(flooded.degraded, true);
    // a hash that spreads the keys keeps the table, and so does the seeded one with many keys
    const spread = new HashedMap<number>((k) => Math.imul(Number(k.slice(3)) + 1, 0x9e3779b1));
    run(spread, steps);
    assert.equal(spread.degraded, false);
    const seeded = new PathMap<number>();
    for (let i = 0; i < 200_000; i++) seeded.set(`/bench/tree/d${i % 200}/n${i}`, i);
    assert.equal(seeded.degraded, false);
    assert.equal(seeded.get('/bench/tree/d123/n199923'), 199_923);
  });

  it('survives random steps with a flooding hash too (property)', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => run(new HashedMap<number>((k) => k.length % 3), steps)),
      { numRuns: 50 },
    );
  });

  it('finds every key after deletes in runs that wrap past the last slot (property)', () => {
    // homes in the last three slots: the runs go on from slot 0
    const few = step.filter((s) => s.t !== 'bulk');
    fc.assert(
      fc.property(fc.array(few, { minLength: 1, maxLength: 60 }), (steps) => run(new HashedMap<number>((k) => -1 - (k.length % 3)), steps)),
      { numRuns: 200 },
    );
  });
});
