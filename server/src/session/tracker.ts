/**
 * The leader's session expiry clock (ZooKeeper's ExpiryQueue): each session's deadline, renewed by
 * touches, bucketed by tick so that finding the expired sessions costs O(expired), not O(sessions).
 * PURE: time is passed in by the caller. Expiry itself is not decided here: the leader proposes a
 * CloseSession transaction for each id that `expired()` returns, and removes it once applied.
 */

interface Tracked {
  timeoutMs: number;
  deadline: number;
  /** reported as expired; touches no longer renew it, reported again after `retryMs` if still here */
  expiringSince: number | undefined;
}

export class SessionTracker {
  private readonly sessions = new Map<number, Tracked>();
  private readonly buckets = new Map<number, Set<number>>();
  private readonly expiring = new Set<number>();
  private nextBucket: number | undefined;

  /** `bucketMs`: deadline granularity (the tick). */
  constructor(private readonly bucketMs: number) {}

  get size(): number {
    return this.sessions.size;
  }

  has(id: number): boolean {
    return this.sessions.has(id);
  }

  add(id: number, timeoutMs: number, now: number): void {
    this.remove(id);
    const tracked: Tracked = { timeoutMs, deadline: 0, expiringSince: undefined };
    this.sessions.set(id, tracked);
    this.schedule(id, tracked, now);
  }

  remove(id: number): void {
    const tracked = this.sessions.get(id);
    if (tracked === undefined) return;
    this.unschedule(id, tracked);
    this.sessions.delete(id);
    this.expiring.delete(id);
  }

  /** Renews a session's lease. False when the session is unknown or already expiring. */
  touch(id: number, now: number): boolean {
    const tracked = this.sessions.get(id);
    if (tracked === undefined || tracked.expiringSince !== undefined) return false;
    const deadline = this.bucketOf(now + tracked.timeoutMs);
    if (deadline === tracked.deadline) return true;
    this.unschedule(id, tracked);
    this.schedule(id, tracked, now);
    return true;
  }

  /** A fresh full timeout for every session (a new leader does this before it may expire any). */
  resetAll(now: number): void {
    this.buckets.clear();
    this.nextBucket = undefined;
    this.expiring.clear();
    for (const [id, tracked] of this.sessions) {
      tracked.expiringSince = undefined;
      this.schedule(id, tracked, now);
    }
  }

  /** Milliseconds left before the session expires (0 when expiring), or -1 when unknown. */
  remaining(id: number, now: number): number {
    const tracked = this.sessions.get(id);
    if (tracked === undefined) return -1;
    if (tracked.expiringSince !== undefined) return 0;
    return Math.min(tracked.timeoutMs, Math.max(0, tracked.deadline - now));
  }

  /**
   * Sessions whose deadline has passed, each reported once (and again after `retryMs` if it is still
   * tracked then, e.g. because the proposal closing it was lost).
   */
  expired(now: number, retryMs: number): number[] {
    const out: number[] = [];
    while (this.nextBucket !== undefined && this.nextBucket <= now) {
      const ids = this.buckets.get(this.nextBucket)!;
      this.buckets.delete(this.nextBucket);
      for (const id of ids) {
        const tracked = this.sessions.get(id)!;
        tracked.expiringSince = now;
        tracked.deadline = 0;
        this.expiring.add(id);
        out.push(id);
      }
      this.nextBucket = this.earliestBucket();
    }
    if (retryMs > 0) {
      for (const id of this.expiring) {
        const tracked = this.sessions.get(id)!;
        if (now - tracked.expiringSince! >= retryMs) {
          tracked.expiringSince = now;
          out.push(id);
        }
      }
    }
    return out;
  }

  private bucketOf(time: number): number {
    return Math.ceil(time / this.bucketMs) * this.bucketMs;
  }

  private schedule(id: number, tracked: Tracked, now: number): void {
    tracked.deadline = this.bucketOf(now + tracked.timeoutMs);
    let bucket = this.buckets.get(tracked.deadline);
    if (bucket === undefined) this.buckets.set(tracked.deadline, (bucket = new Set()));
    bucket.add(id);
    if (this.nextBucket === undefined || tracked.deadline < this.nextBucket) this.nextBucket = tracked.deadline;
  }

  private unschedule(id: number, tracked: Tracked): void {
    const bucket = this.buckets.get(tracked.deadline);
    if (bucket === undefined) return;
    bucket.delete(id);
    if (bucket.size === 0) {
      this.buckets.delete(tracked.deadline);
      if (this.nextBucket === tracked.deadline) this.nextBucket = this.earliestBucket();
    }
  }

  private earliestBucket(): number | undefined {
    let earliest: number | undefined;
    for (const time of this.buckets.keys()) if (earliest === undefined || time < earliest) earliest = time;
    return earliest;
  }
}
