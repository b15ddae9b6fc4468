/**
 * The entries MemoryStorage holds, kept in columns rather than as objects: terms, types, and where
 * each entry's data lies in append-only byte slabs. A member keeps up to `logMemoryBytes` (64 MiB by
 * default) of applied entries for followers that lag, so every write's entry outlived the young
 * generation: an object, a view and an ArrayBuffer per entry that a scavenge copied and then
 * promoted, and every full collection traced after (bench/analysis.md, "The log and the watch
 * history in columns"). Here an entry held costs the collector nothing: its data is
 * copied into a slab (large data is held as it is), its numbers go into typed arrays, and `get`
 * makes the Entry object anew for whoever asks (short-lived: a batch to send, an entry to apply).
 *
 * Slabs are never written twice: a view handed out stays valid whatever is truncated or dropped
 * later. A slab is let go once no entry held lies in it.
 */
import type { Entry, EntryType } from './types.js';

/** Bytes of a slab; data this large or larger is held in its own buffer instead of being copied. */
const SLAB_BYTES = 1 << 20;
const OWN_BUFFER_BYTES = 64 * 1024;
const EMPTY: Uint8Array = new Uint8Array(0);

export class EntryColumns {
  private terms = new Float64Array(1024);
  private types = new Uint8Array(1024);
  /** the sequence number of the slab holding each entry's data, its offset and length there */
  private slabSeqs = new Float64Array(1024);
  private offsets = new Uint32Array(1024);
  private lengths = new Uint32Array(1024);
  /** position of the first entry held in the columns, and how many are held */
  private start = 0;
  private count = 0;
  /** slabs[i] has sequence number firstSlabSeq + i; the last one is being filled (unless own) */
  private slabs: Uint8Array[] = [];
  private firstSlabSeq = 0;
  private fillAt = SLAB_BYTES;
  private filling = false;

  get length(): number {
    return this.count;
  }

  /** Slabs held (buffers of data held as they are included), for tests of their release. */
  get slabCount(): number {
    return this.slabs.length;
  }

  term(i: number): number {
    return this.terms[this.start + i]!;
  }

  /** The data's length of entry i. */
  dataLength(i: number): number {
    return this.lengths[this.start + i]!;
  }

  /** Entry i (0 is the first held), as a new object whose data is a view of the slab. */
  get(i: number, index: number): Entry {
    const at = this.start + i;
    const length = this.lengths[at]!;
    let data = EMPTY;
    if (length > 0) {
      const slab = this.slabs[this.slabSeqs[at]! - this.firstSlabSeq]!;
      const offset = this.offsets[at]!;
      data = slab.subarray(offset, offset + length);
    }
    return { term: this.terms[at]!, index, type: this.types[at]! as EntryType, data };
  }

  push(entry: Entry): void {
    if (this.start + this.count === this.terms.length) this.makeRoom();
    const at = this.start + this.count;
    const length = entry.data.byteLength;
    this.terms[at] = entry.term;
    this.types[at] = entry.type;
    this.lengths[at] = length;
    if (length >= OWN_BUFFER_BYTES) {
      this.slabs.push(entry.data);
      this.filling = false;
      this.slabSeqs[at] = this.firstSlabSeq + this.slabs.length - 1;
      this.offsets[at] = 0;
    } else if (length > 0) {
      if (!this.filling || this.fillAt + length > SLAB_BYTES) {
        this.slabs.push(new Uint8Array(SLAB_BYTES));
        this.filling = true;
        this.fillAt = 0;
      }
      this.slabs[this.slabs.length - 1]!.set(entry.data, this.fillAt);
      this.slabSeqs[at] = this.firstSlabSeq + this.slabs.length - 1;
      this.offsets[at] = this.fillAt;
      this.fillAt += length;
    } else {
      this.slabSeqs[at] = 0;
      this.offsets[at] = 0;
    }
    this.count++;
  }

  /** Keeps the first `n` entries; the bytes of the others stay in their slabs until let go. */
  truncate(n: number): void {
    this.count = Math.min(this.count, n);
    if (this.count === 0) this.clear();
  }

  /** Drops the first `n` entries, and the slabs no entry held lies in any more. */
  dropFirst(n: number): void {
    if (n >= this.count) return this.clear();
    this.start += n;
    this.count -= n;
    // Entries with data lie in slabs in order; empty ones (a leader's no-op) lie nowhere.
    let firstNeeded = this.firstSlabSeq + this.slabs.length - (this.filling ? 1 : 0);
    for (let at = this.start; at < this.start + this.count; at++) {
      if (this.lengths[at]! > 0) {
        firstNeeded = this.slabSeqs[at]!;
        break;
      }
    }
    const drop = firstNeeded - this.firstSlabSeq;
    if (drop > 0) {
      this.slabs.splice(0, drop);
      this.firstSlabSeq += drop;
    }
  }

  clear(): void {
    this.start = 0;
    this.count = 0;
    this.firstSlabSeq += this.slabs.length;
    this.slabs = [];
    this.filling = false;
  }

  /** Moves the entries held to the front of the columns, or doubles them when over half full. */
  private makeRoom(): void {
    const capacity = this.count * 2 > this.terms.length ? this.terms.length * 2 : this.terms.length;
    const move = <T extends Float64Array | Uint32Array | Uint8Array>(column: T, make: (n: number) => T): T => {
      const from = column.subarray(this.start, this.start + this.count);
      if (capacity === column.length) {
        column.copyWithin(0, this.start, this.start + this.count);
        return column;
      }
      const to = make(capacity);
      to.set(from);
      return to;
    };
    this.terms = move(this.terms, (n) => new Float64Array(n));
    this.types = move(this.types, (n) => new Uint8Array(n));
    this.slabSeqs = move(this.slabSeqs, (n) => new Float64Array(n));
    this.offsets = move(this.offsets, (n) => new Uint32Array(n));
    this.lengths = move(this.lengths, (n) => new Uint32Array(n));
    this.start = 0;
  }
}
