/**
 * Copies of small byte strings packed into shared slabs, for node data the tree keeps. Pure (no
 * imports, only the Buffer global): the slabs are Node Buffers, so that a node's data read back is a
 * Buffer as before.
 *
 * Why: a copy of its own per node (Buffer.allocUnsafe, a view of Node's 8 KiB pool) is an object of
 * about a hundred bytes that lives as long as the node, which the garbage collector copies twice
 * before it is old. Placed in a slab, the node keeps (slab, offset, length) and a view is made only
 * when its data is read. Restoring a million nodes this way held 40-90 MB less V8 heap and took 8%
 * less time (bench/analysis.md, "Restored node data in slabs"); replaying the benchmark's log of a
 * million creates, 65-95 MB less V8 heap and 9% less CPU (median of 6 runs each; bench/analysis.md,
 * "Replay in turns, node data in the tree's slabs, and the client's pause").
 *
 * Like Node's pool, a slab lives as long as any value in it, and values larger than `maxField` get
 * a buffer of their own.
 */
export class DataSlabs {
  private slab: Buffer;
  private used = 0;
  /** where place() copied its last bytes: a slab shared with other copies, or a buffer of their own (at 0) */
  placedIn: Buffer;
  placedAt = 0;

  constructor(
    private readonly slabBytes: number,
    /** larger fields get a buffer of their own */
    private readonly maxField: number,
  ) {
    this.slab = Buffer.allocUnsafeSlow(slabBytes);
    this.placedIn = this.slab;
  }

  /** Copies bytes [from, from + n) of `source` to placedIn[placedAt, placedAt + n). */
  place(source: Uint8Array, from: number, n: number): void {
    const bytes = new Uint8Array(source.buffer, source.byteOffset + from, n);
    if (n > this.maxField) {
      this.placedIn = Buffer.allocUnsafe(n);
      this.placedIn.set(bytes);
      this.placedAt = 0;
      return;
    }
    if (this.used + n > this.slabBytes) {
      this.slab = Buffer.allocUnsafeSlow(this.slabBytes);
      this.used = 0;
    }
    this.slab.set(bytes, this.used);
    this.placedIn = this.slab;
    this.placedAt = this.used;
    this.used += n;
  }
}
