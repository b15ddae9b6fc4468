/**
 * The recent changes applied on this member, in zxid order, bounded by count: what lets a client
 * that reconnects (to this or any member) resume its watches from its last seen zxid without a gap.
 * Every member applies the same log, so every member's history holds the same changes.
 */
import type { WatchChange } from '../fsm/state-machine.js';

export class EventHistory {
  private readonly ring: (WatchChange | undefined)[];
  private head = 0; // index of the oldest held change
  private length = 0;
  /** every change with a zxid above this is held (changes at or below it may have been dropped) */
  private floor: number;

  constructor(readonly capacity: number, startZxid: number) {
    this.ring = new Array(Math.max(1, capacity));
    this.floor = startZxid;
  }

  get size(): number {
    return this.length;
  }

  /** Appends a change; the oldest is dropped when full. */
  append(change: WatchChange): void {
    if (this.length === this.ring.length) {
      this.floor = this.ring[this.head]!.zxid;
      this.ring[this.head] = change;
      this.head = (this.head + 1) % this.ring.length;
    } else {
      this.ring[(this.head + this.length) % this.ring.length] = change;
      this.length++;
    }
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
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[(this.head + mid) % this.ring.length]!.zxid <= zxid) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.length; i++) yield this.ring[(this.head + i) % this.ring.length]!;
  }

  /** Forgets everything (a snapshot was installed): only changes after `zxid` will be known. */
  reset(zxid: number): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.length = 0;
    this.floor = zxid;
  }
}
