/**
 * The tree's index, znodes by full path: an insertion-ordered hash table (open addressing, linear
 * probing) held in arrays, in place of a `Map<string, V>`. With 1M znodes, inserting into V8's Map
 * (a rehash of the whole table at each doubling, a chain per bucket) was a quarter of a snapshot's
 * restore and of a log replay's creates; with this table 1M creates applied in multis took 24% less
 * time, and a restore of 1M znodes less by a noisier margin (docs/design.md, "The tree's index").
 *
 * Entries sit in insertion order in `keys`, `values` and `hashes`; `slots` maps a hash to its entry
 * (the entry's index + 1; 0 is empty) and is kept at most half full. A delete leaves a hole in the
 * entries, dropped once holes outnumber the live entries (`compact`, which keeps the order); the
 * slots are rebuilt then and when the table grows. Iteration is in insertion order, as a Map's.
 *
 * Hash flooding (paths chosen to collide): a probe longer than MAX_PROBE, which a good hash
 * practically never needs at half load, makes the table take the next seed and rebuild its slots; a
 * table that still sees one after MAX_RESEEDS seeds hands its entries to a V8 Map for good (whose
 * hash V8 seeds at random per process). The seeds follow a fixed sequence, as the tree is pure and
 * deterministic (no randomness inside): paths crafted against them can at worst bring the tree back
 * to a Map's speed, after three rebuilds, each set off by an insert that walked MAX_PROBE slots.
 */

const MIN_SLOTS = 32;
/** Far past the longest probe of a random hash at half load, for tables of up to 2^27 slots. */
const MAX_PROBE = 256;
const MAX_RESEEDS = 3;
/** Holes are dropped once there are more of them than live entries, and more than this. */
const MIN_HOLES_TO_COMPACT = 1024;

export class PathMap<V> implements Iterable<[string, V]> {
  private slots = new Int32Array(MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private keys: (string | undefined)[] = [];
  private values: (V | undefined)[] = [];
  private hashes = new Int32Array(MIN_SLOTS);
  private live = 0;
  private seed = FIRST_SEED;
  private reseeds = 0;
  /** Set once the table gave up on its hash (see above): every call goes to it from then on. */
  private fallback: Map<string, V> | undefined;
  /** Bumped whenever entries move (compaction, the fallback): an iteration in progress then throws. */
  private layout = 0;

  get size(): number {
    return this.fallback !== undefined ? this.fallback.size : this.live;
  }

  /** Whether the table handed its entries to a Map (see above). */
  get degraded(): boolean {
    return this.fallback !== undefined;
  }

  get(key: string): V | undefined {
    if (this.fallback !== undefined) return this.fallback.get(key);
    const entry = this.find(key, this.hash(key));
    return entry < 0 ? undefined : this.values[entry];
  }

  has(key: string): boolean {
    if (this.fallback !== undefined) return this.fallback.has(key);
    return this.find(key, this.hash(key)) >= 0;
  }

  /** Makes room for `count` entries in all, so that filling the table up to them rebuilds nothing (a restore knows its node count). */
  reserve(count: number): void {
    if (this.fallback !== undefined) return;
    const size = slotsFor(count);
    if (size > this.slots.length) this.rebuild(size);
    if (count > this.hashes.length) {
      const hashes = new Int32Array(count);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
  }

  /** Sets `key` to `value`; a key already present keeps its place in the order. */
  set(key: string, value: V): this {
    if (this.fallback !== undefined) this.fallback.set(key, value);
    else this.put(key, value, true);
    return this;
  }

  /** Adds `key` with `value` unless it is present (then changes nothing): whether it was added. One lookup where has() then set() are two. */
  add(key: string, value: V): boolean {
    if (this.fallback === undefined) return this.put(key, value, false);
    if (this.fallback.has(key)) return false;
    this.fallback.set(key, value);
    return true;
  }

  /** Inserts `key`, or replaces its value when `replace`; whether it was inserted. */
  private put(key: string, value: V, replace: boolean): boolean {
    const hash = this.hash(key);
    const slots = this.slots;
    const mask = this.mask;
    let slot = hash & mask;
    let probe = 0;
    for (;;) {
      const s = slots[slot]!;
      if (s === 0) break;
      const entry = s - 1;
      if (this.hashes[entry] === hash && this.keys[entry] === key) {
        if (replace) this.values[entry] = value;
        return false;
      }
      slot = (slot + 1) & mask;
      probe++;
    }
    const entry = this.keys.length;
    this.keys.push(key);
    this.values.push(value);
    if (entry === this.hashes.length) this.hashes = grown(this.hashes);
    this.hashes[entry] = hash;
    slots[slot] = entry + 1;
    this.live++;
    if (probe > MAX_PROBE) this.reseed();
    else if (this.live * 2 > this.slots.length) this.rebuild(this.slots.length * 2);
    return true;
  }

  delete(key: string): boolean {
    if (this.fallback !== undefined) return this.fallback.delete(key);
    const hash = this.hash(key);
    const slots = this.slots;
    const mask = this.mask;
    let slot = hash & mask;
    let entry: number;
    for (;;) {
      const s = slots[slot]!;
      if (s === 0) return false;
      entry = s - 1;
      if (this.hashes[entry] === hash && this.keys[entry] === key) break;
      slot = (slot + 1) & mask;
    }
    this.keys[entry] = undefined;
    this.values[entry] = undefined;
    this.live--;
    // Backward-shift deletion: the entries after the freed slot in its run move up when the freed
    // slot lies between their home slot and where they sit, so that no probe stops short of them.
    let free = slot;
    for (let next = (slot + 1) & mask; slots[next] !== 0; next = (next + 1) & mask) {
      const home = this.hashes[slots[next]! - 1]! & mask;
      const movable = free <= next ? home <= free || home > next : home <= free && home > next;
      if (movable) {
        slots[free] = slots[next]!;
        free = next;
      }
    }
    slots[free] = 0;
    const holes = this.keys.length - this.live;
    if (holes > MIN_HOLES_TO_COMPACT && holes > this.live) this.compact();
    return true;
  }

  *entries(): IterableIterator<[string, V]> {
    const layout = this.layout;
    if (this.fallback !== undefined) {
      for (const pair of this.fallback) {
        if (this.layout !== layout) throw new Error('the path map changed its layout while iterated');
        yield pair;
      }
      return;
    }
    for (let entry = 0; entry < this.keys.length; entry++) {
      if (this.layout !== layout) throw new Error('the path map changed its layout while iterated');
      const key = this.keys[entry];
      if (key !== undefined) yield [key, this.values[entry]!];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** Seeded FNV-1a over the UTF-16 code units, then murmur3's finalizer to spread every bit. */
  protected hash(key: string): number {
    let h = this.seed;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  private find(key: string, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const s = slots[slot]!;
      if (s === 0) return -1;
      const entry = s - 1;
      if (this.hashes[entry] === hash && this.keys[entry] === key) return entry;
    }
  }

  /** A probe ran past MAX_PROBE: a new seed, or the Map once MAX_RESEEDS did not help. */
  private reseed(): void {
    if (this.reseeds === MAX_RESEEDS) {
      const map = new Map<string, V>();
      for (const [key, value] of this.entries()) map.set(key, value);
      this.fallback = map;
      this.keys = [];
      this.values = [];
      this.hashes = new Int32Array(0);
      this.slots = new Int32Array(0);
      this.layout++;
      return;
    }
    this.reseeds++;
    this.seed = nextSeed(this.seed);
    for (let entry = 0; entry < this.keys.length; entry++) {
      const key = this.keys[entry];
      if (key !== undefined) this.hashes[entry] = this.hash(key);
    }
    this.rebuild(Math.max(this.slots.length, slotsFor(this.live)));
  }

  /** Drops the holes, keeping the order. */
  private compact(): void {
    let to = 0;
    for (let from = 0; from < this.keys.length; from++) {
      const key = this.keys[from];
      if (key === undefined) continue;
      this.keys[to] = key;
      this.values[to] = this.values[from];
      this.hashes[to] = this.hashes[from]!;
      to++;
    }
    this.keys.length = to;
    this.values.length = to;
    if (this.hashes.length > 2 * Math.max(to, MIN_SLOTS)) this.hashes = this.hashes.slice(0, Math.max(to, MIN_SLOTS));
    this.layout++;
    this.rebuild(slotsFor(this.live));
  }

  /** Places every entry anew in `size` slots (a power of two). */
  private rebuild(size: number): void {
    const slots = new Int32Array(size);
    const mask = size - 1;
    let longest = 0;
    for (let entry = 0; entry < this.keys.length; entry++) {
      if (this.keys[entry] === undefined) continue;
      let slot = this.hashes[entry]! & mask;
      let probe = 0;
      while (slots[slot] !== 0) {
        slot = (slot + 1) & mask;
        probe++;
      }
      slots[slot] = entry + 1;
      if (probe > longest) longest = probe;
    }
    this.slots = slots;
    this.mask = mask;
    if (longest > MAX_PROBE) this.reseed();
  }
}

const FIRST_SEED = 0x811c9dc5 | 0; // FNV-1a's offset basis

function nextSeed(seed: number): number {
  return Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) ^ 0x5bd1e995;
}

/** The slots for `live` entries: a power of two, at most half full. */
function slotsFor(live: number): number {
  let size = MIN_SLOTS;
  while (live * 2 > size) size *= 2;
  return size;
}

function grown(hashes: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const next = new Int32Array(hashes.length * 2);
  next.set(hashes);
  return next;
}
