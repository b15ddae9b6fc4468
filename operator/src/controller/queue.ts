/**
 * A de-duplicated work queue with per-key back-off, as in client-go's workqueue: a key is queued at
 * most once, is never processed by two workers at once (added while in flight, it runs again
 * after), and a failing key waits 1 s, 2 s, 4 s ... up to a minute before its next try.
 */
export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests. */
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; cancel(): void }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private closed = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly setTimer: NonNullable<QueueOptions['setTimer']>;

  constructor(options: QueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.setTimer =
      options.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return { cancel: () => clearTimeout(t) };
      });
  }

  get length(): number {
    return this.ready.length;
  }

  add(key: string): void {
    if (this.closed) return;
    if (this.inFlight.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queued.delete(key);
      this.inFlight.add(key);
      waiter(key);
    } else this.ready.push(key);
  }

  /** Adds the key after `ms`, unless it is already due sooner. */
  addAfter(key: string, ms: number, now = Date.now()): void {
    if (this.closed) return;
    if (ms <= 0) return this.add(key);
    const at = now + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const timer = this.setTimer(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, cancel: timer.cancel });
  }

  /** Re-adds a failed key after its back-off. */
  retry(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's back-off after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to process (undefined once closed). Call done(key) after processing it. */
  next(): Promise<string | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.inFlight.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.inFlight.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
