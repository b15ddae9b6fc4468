/** What every API handler shares: the node, the options, the sessions attached here, metrics. */
import { type ConclaveError, SessionExpiredError, SessionMovedError, UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ServerMetrics } from '../metrics.js';
import type { ConclaveNode, SessionListener } from '../node.js';
import type { RequestLimits } from '../pipeline/prepare.js';
import type { SessionStream } from './session-stream.js';

export interface ApiOptions {
  limits: RequestLimits;
  /** requests in flight per session before RESOURCE_EXHAUSTED */
  maxOutstandingPerSession: number;
  /** responses and events a client may leave unread before its stream is closed */
  maxOutboundMessages: number;
  /** how long a resuming session may wait for this member to catch up with it */
  connectTimeoutMs: number;
  /** watches per session */
  maxWatchesPerSession: number;
  /** sessions and leases in the cluster before new ones are refused */
  maxSessions: number;
}

/**
 * Whether a member that has had no leader for `leaderlessMs` may keep a session of `timeoutMs`
 * attached, or take it back: not after a third of the timeout. The leader expires a session whose
 * member cannot pass its pings on, as ZooKeeper's does, so a client left on a member cut off from
 * the quorum (a partition, a member that lost its disk) would lose its session while the rest of
 * the cluster could keep it; ZooKeeper's followers drop their clients when they lose the leader.
 * Closing the stream after a third of the timeout (the loss itself is noticed after an election
 * timeout) leaves the client the rest to move the session to a member with a leader, while a
 * normal election, well under a third of the shortest timeout, closes nothing.
 */
export function mayHoldSession(leaderlessMs: number, timeoutMs: number): boolean {
  return leaderlessMs < timeoutMs / 3;
}

export function leaderlessError(memberId: number, leaderlessMs: number): ConclaveError {
  return new UnavailableError(`member ${memberId} has had no leader for ${Math.round(leaderlessMs)} ms: reconnect to another member`);
}

/** The session streams attached to this member, told by apply when a session closes or moves away. */
export class AttachedSessions implements SessionListener {
  private readonly streams = new Map<number, SessionStream>();

  constructor(private readonly memberId: () => number) {}

  get size(): number {
    return this.streams.size;
  }

  /** Requests in flight on all attached session streams. */
  get outstanding(): number {
    let n = 0;
    for (const stream of this.streams.values()) n += stream.outstanding;
    return n;
  }

  attach(sessionId: number, stream: SessionStream): void {
    const previous = this.streams.get(sessionId);
    this.streams.set(sessionId, stream);
    if (previous && previous !== stream) previous.closeWith(new SessionMovedError(`session ${sessionId} reconnected on another stream`));
  }

  detach(sessionId: number, stream: SessionStream): void {
    if (this.streams.get(sessionId) === stream) this.streams.delete(sessionId);
  }

  sessionClosed(id: number, expired: boolean): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.streams.delete(id);
    stream.closeWith(expired ? new SessionExpiredError(`session ${id} expired`) : undefined);
  }

  leaderless(ms: number): void {
    for (const [id, stream] of this.streams) {
      if (mayHoldSession(ms, stream.timeoutMs)) continue;
      this.streams.delete(id);
      stream.closeWith(leaderlessError(this.memberId(), ms));
    }
  }

  sessionMoved(id: number, _from: number, to: number): void {
    if (to === this.memberId()) return;
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.streams.delete(id);
    stream.closeWith(new SessionMovedError(`session ${id} moved to member ${to}`));
  }
}

export class ApiContext {
  readonly sessions: AttachedSessions;
  /** unary requests being served */
  unaryInFlight = 0;

  constructor(
    readonly node: ConclaveNode,
    readonly options: ApiOptions,
    readonly metrics: ServerMetrics,
    readonly logger: Logger,
  ) {
    this.sessions = new AttachedSessions(() => node.id);
    node.setSessionListener(this.sessions);
  }

  /** Records one answered request. */
  observe(op: string, started: number, errorCode: string | number | undefined): void {
    this.metrics.requestSeconds.observe({ op }, (performance.now() - started) / 1000);
    if (errorCode !== undefined) this.metrics.requestErrors.inc({ op, code: String(errorCode) });
  }
}
