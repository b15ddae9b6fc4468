/**
 * The writes this member has sent into the log and is waiting to see applied, by the member's own
 * sequence number (Txn.origin_seq). The result is delivered synchronously from apply, so a session
 * sees its response in exactly the order the log decided, interleaved correctly with watch events.
 */
import { ConclaveError, TimeoutError, UnavailableError } from '../errors.js';
import type { ApplyOutcome } from '../fsm/state-machine.js';

export type WriteCallback = (outcome: ApplyOutcome | ConclaveError) => void;

interface Waiter {
  callback: WriteCallback;
  deadline: number;
}

export class PendingWrites {
  private readonly waiting = new Map<number, Waiter>();
  private nextSeq: number;

  /**
   * `firstSeq` must exceed every number a previous life of this member used: a write it forwarded
   * before a crash can commit and be applied here after the restart, and must not be taken for a new
   * request's (see ConclaveNode: it starts from the clock, as etcd's request ids do).
   */
  constructor(firstSeq = 1) {
    this.nextSeq = firstSeq;
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Registers a write; returns its origin_seq. */
  add(callback: WriteCallback, deadline: number): number {
    const seq = this.nextSeq++;
    this.waiting.set(seq, { callback, deadline });
    return seq;
  }

  /** The write was applied: deliver its outcome. Unknown seqs (already failed, or before a restart) are ignored. */
  applied(seq: number, outcome: ApplyOutcome): void {
    const waiter = this.waiting.get(seq);
    if (waiter === undefined) return;
    this.waiting.delete(seq);
    waiter.callback(outcome);
  }

  /** The write will certainly not be applied, or its outcome cannot be known any more. */
  fail(seq: number, error: ConclaveError): void {
    const waiter = this.waiting.get(seq);
    if (waiter === undefined) return;
    this.waiting.delete(seq);
    waiter.callback(error);
  }

  /**
   * The leader changed: writes in flight may or may not have been committed. They fail with
   * UNAVAILABLE saying so; if one is applied later, its result is dropped (the client was told).
   */
  failAll(reason: string): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    const error = new UnavailableError(`${reason}; the outcome of this write is unknown`);
    for (const w of waiters) w.callback(error);
  }

  /** Fails writes whose deadline passed (outcome unknown). */
  expire(now: number): void {
    for (const [seq, waiter] of this.waiting) {
      if (waiter.deadline <= now) {
        this.waiting.delete(seq);
        waiter.callback(new TimeoutError('the write was not applied in time; its outcome is unknown'));
      }
    }
  }
}
