/**
 * The recent changes applied on this member, in zxid order, bounded by count: what lets a client
 * that reconnects (to this or any member) resume its watches from its last seen zxid without a gap.
 * Every member applies the same log, so every member's history holds the same changes.
 */
import type { WatchChange } from '../fsm/state-machine.js';

const TYPES: readonly WatchChange['type'][] = ['NODE_CREATED', 'NODE_DELETED', 'NODE_DATA_CHANGED', 'NODE_CHILDREN_CHANGED'];
const TYPE_CODES = new Map(TYPES.map((type, code) => [type, code]));

/**
 * Held in columns (a type code, a zxid and a path per slot of a ring), not as an object per change:
 * the 100,000 changes a member keeps by default outlive the young generation, and an object each
 * was copied by a scavenge and then promoted, to be traced by every full collection after. The
 * change objects `since` yields are made anew (resuming watches is rare).
 */
export class EventHistory {
  private readonly types: Uint8Array;
  private readonly zxids: Float64Array;
  private readonly paths: (string | undefined)[];
  private head = 0; // index of the oldest held change
  private length = 0;
  /** every change with a zxid above this is held (changes at or below it may have been dropped) */
  private floor: number;

  constructor(readonly capacity: number, startZxid: number) {
    const slots = Math.max(1, capacity);
    this.types = new Uint8Array(slots);
    this.zxids = new Float64Array(slots);
    this.paths = new Array<string | undefined>(slots).fill(undefined);
    this.floor = startZxid;
  }

  get size(): number {
    return this.length;
  }

  /** Appends a change; the oldest is dropped when full. */
  append(change: WatchChange): void {
    let slot: number;
    if (this.length === this.paths.length) {
      this.floor = this.zxids[this.head]!;
      slot = this.head;
      this.head = (this.head + 1) % this.paths.length;
    } else {
      slot = (this.head + this.length) % this.paths.length;
      this.length++;
    }
    this.types[slot] = TYPE_CODES.get(change.type)!;
    this.zxids[slot] = change.zxid;
    this.paths[slot] = change.path;
  }

  /**
   * True when every change after `zxid` is held. A change with exactly the floor's zxid may have lost
   * siblings (a multi's changes share a zxid), so resuming needs zxid >= floor.
   */
  covers(zxid: number): boolean {
    return zxid >= this.floor;
  }

  /** Changes with a zxid above `zxid`, oldest first. */
  *since(zxid: number): Generator<WatchChange> {
    // Binary search for the first change above zxid: the ring is sorted by zxid.
    const slots = this.paths.length;
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.zxids[(this.head + mid) % slots]! <= zxid) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.length; i++) {
      const slot = (this.head + i) % slots;
      yield { type: TYPES[this.types[slot]!]!, path: this.paths[slot]!, zxid: this.zxids[slot]! };
    }
  }

  /** Forgets everything (a snapshot was installed): only changes after `zxid` will be known. */
  reset(zxid: number): void {
    this.paths.fill(undefined);
    this.head = 0;
    this.length = 0;
    this.floor = zxid;
  }
}
