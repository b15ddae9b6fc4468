/**
 * Linearizable reads and sync(): a ReadIndex round confirmed by a quorum, then a wait until this
 * member has applied that far. Requests that arrive while a round is in flight share the next
 * round (they must not share one that started before they arrived), so one round serves many reads.
 */
import { TimeoutError, UnavailableError, type ConclaveError } from '../errors.js';

type Callback = (error: ConclaveError | undefined) => void;

interface Round {
  context: number;
  waiters: Callback[];
  deadline: number;
}

export class ReadBarrier {
  private inFlight: Round | undefined;
  private queued: Callback[] = [];
  private nextContext = 1;
  /** read indexes confirmed, waiting for apply to reach them */
  private readonly confirmed: { index: number; waiters: Callback[] }[] = [];

  constructor(
    /** asks Raft for a read index tagged with `context` */
    private readonly requestReadIndex: (context: number) => void,
    private readonly appliedIndex: () => number,
    private readonly timeoutMs: number,
  ) {}

  /** Calls back (synchronously from a later event) once a linearizable read may be served. */
  wait(callback: Callback, now: number): void {
    this.queued.push(callback);
    this.startRound(now);
  }

  /** Raft answered a round. */
  onReadState(context: number, index: number): void {
    const round = this.inFlight;
    if (round === undefined || round.context !== context) return;
    this.inFlight = undefined;
    if (this.appliedIndex() >= index) for (const w of round.waiters) w(undefined);
    else this.confirmed.push({ index, waiters: round.waiters });
  }

  /** Apply advanced: release reads whose index is now applied. */
  onApplied(applied: number): void {
    while (this.confirmed.length > 0 && this.confirmed[0]!.index <= applied) {
      for (const w of this.confirmed.shift()!.waiters) w(undefined);
    }
  }

  /** Once per tick: time out a round that got no answer (no leader, or a lost message), then retry. */
  tick(now: number): void {
    if (this.inFlight !== undefined && this.inFlight.deadline <= now) {
      const round = this.inFlight;
      this.inFlight = undefined;
      const error = new TimeoutError('no quorum confirmed the read in time');
      for (const w of round.waiters) w(error);
    }
    this.startRound(now);
  }

  /** No leader: fail everything waiting for a round. */
  failAll(reason: string): void {
    const error = new UnavailableError(reason);
    const waiters = [...(this.inFlight?.waiters ?? []), ...this.queued];
    this.inFlight = undefined;
    this.queued = [];
    for (const w of waiters) w(error);
  }

  private startRound(now: number): void {
    if (this.inFlight !== undefined || this.queued.length === 0) return;
    this.inFlight = { context: this.nextContext++, waiters: this.queued, deadline: now + this.timeoutMs };
    this.queued = [];
    this.requestReadIndex(this.inFlight.context);
  }
}
