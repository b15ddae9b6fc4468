/**
 * A client session over the Session stream: connects to one of the endpoints, keeps the session
 * alive, pipelines requests (many in flight, answered in order), dispatches watch events, and when
 * the stream breaks, moves to another member with the same session id, secret and last seen zxid,
 * restoring its watches there (the server replays the changes it missed).
 *
 * Requests in flight when a stream breaks fail with ConnectionLossError (a write's outcome is then
 * unknown, as in ZooKeeper); requests made while disconnected wait for the next connection. A
 * member that stops answering (paused, partitioned, or stuck without a quorum) is left after two
 * thirds of the session timeout, as ZooKeeper's client does, so that the session can move in time.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi, splitFrames } from '@conclave/proto';
import { ConclaveError, errorFromCode, SessionExpiredError, TimeoutError, UnavailableError } from '@conclave/proto/errors';
import type { ConclaveClient as ConclaveStub } from '@conclave/proto/gen/conclave/v1/Conclave.js';
import type { SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import type { SessionDown__Output as SessionDown } from '@conclave/proto/gen/conclave/v1/SessionDown.js';
import type { SessionRequest } from '@conclave/proto/gen/conclave/v1/SessionRequest.js';
import type { SessionResponse__Output as SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { ConnectResponse__Output as ConnectResponse } from '@conclave/proto/gen/conclave/v1/ConnectResponse.js';
import { acquireChannel, releaseChannel } from './channel-pool.js';
import { transportDetails } from './grpc.js';
import type { SessionState, WatchEvent } from './types.js';
import { ClientWatches } from './watches.js';
import { deserializeSessionDown, SESSION_METHOD, serializeSessionUp } from './session-codec.js';

/** The stream broke before the answer came: for a write, whether it was applied is unknown. */
export class ConnectionLossError extends UnavailableError {
  readonly outcomeUnknown = true;
  constructor(message: string) {
    super(message);
  }
}
Object.defineProperty(ConnectionLossError.prototype, 'name', { value: 'ConnectionLossError' });

export interface SessionOptions {
  endpoints: string[];
  /** requested session timeout; the server clamps it */
  sessionTimeoutMs: number;
  /** how long one connection attempt may take */
  connectTimeoutMs: number;
  /** default time to wait for an answer */
  requestTimeoutMs: number;
  /** requests in flight at once (the server refuses more than its limit, 1,000 by default); more wait here */
  maxInFlight: number;
}

type RequestBody = Omit<SessionRequest, 'id'>;

/**
 * Runs synchronously when the answer arrives, before any later response or event of the stream is
 * processed: the place to register a client-side watch, so that an event right behind the answer
 * (in the same batch) finds it.
 */
export type OnAnswer = (response: SessionResponse) => void;

interface Pending {
  request: SessionRequest;
  resolve: (response: SessionResponse) => void;
  reject: (error: Error) => void;
  onAnswer: OnAnswer | undefined;
  timer: NodeJS.Timeout | undefined;
}

const MAX_QUEUED = 100_000;
/** Requests per stream message, in (estimated) bytes: well under the server's 4 MiB limit. */
const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * A Session stream on `stub`'s channel. grpc-js captures a stack trace (`new Error()`) per call
 * to append to the call's errors; a session's stream errors become this client's own errors
 * (connection loss, a member's refusal) that never show it, and the capture was 3% of the load
 * generator's time under the benchmark's session churn (profiles of 2026-11-27). So the call is
 * made with stack traces off.
 */
function openSessionStream(stub: ConclaveStub): grpc.ClientDuplexStream<SessionUp, SessionDown> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return stub.makeBidiStreamRequest(SESSION_METHOD, serializeSessionUp, deserializeSessionDown);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * How long a session waits before its next connect attempt, `roundMs` after it began the round of
 * attempts through its endpoints that `attempt` (counted from 0) ended: nothing within a round;
 * after a round, 50 ms more for each attempt so far, up to 1 s, counted from the round's start. A
 * round that took that long itself (a connect that timed out, or that a member held while it caught
 * up and then failed) is followed by the next at once: waiting the whole pause after it made a
 * member that caught up by a snapshot wait 0.35-0.5 s more for its client (bench/analysis.md).
 */
export function connectPause(attempt: number, endpoints: number, roundMs: number): number {
  if ((attempt + 1) % endpoints !== 0) return 0;
  return Math.max(0, Math.min(1000, 50 * (attempt + 1)) - roundMs);
}

/** Waits `ms`, or less if `signal` aborts first. */
const pause = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

export class Session extends EventEmitter {
  readonly watches = new ClientWatches();
  sessionId = 0;
  timeoutMs = 0;
  memberId = 0;
  lastZxid = 0;
  state: SessionState = 'connecting';
  /** the endpoint of the current (or last) connection */
  endpoint = '';
  private secret: Uint8Array = new Uint8Array(0);
  private stream: grpc.ClientDuplexStream<SessionUp, SessionDown> | undefined;
  private readonly stubs = new Map<string, ConclaveStub>();
  private endpointIndex: number;
  private nextId = 1;
  private readonly inflight = new Map<number, Pending>();
  /** waiting for a connection */
  private queued: Pending[] = [];
  /** connected, waiting for room under maxInFlight */
  private backlog: Pending[] = [];
  private outbox: SessionRequest[] = [];
  private flushScheduled = false;
  private lastSent = 0;
  private lastReceived = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private reconnecting = false;

  constructor(private readonly options: SessionOptions) {
    super();
    // Every waiting recipe listens to the state: many listeners are normal, not a leak.
    this.setMaxListeners(0);
    this.endpointIndex = Math.floor(Math.random() * options.endpoints.length);
  }

  /** Opens the session on the first member that answers (giving up when `signal` aborts). */
  async open(signal?: AbortSignal): Promise<void> {
    try {
      await this.connectLoop(true, signal);
    } catch (error) {
      this.shutdown('closed');
      throw error;
    }
  }

  /** Sends a request; resolves with the response (without its error), rejects with a typed error. */
  request(body: RequestBody, options: { timeoutMs?: number; signal?: AbortSignal } = {}, onAnswer?: OnAnswer): Promise<SessionResponse> {
    if (this.state === 'closed') return Promise.reject(new ConclaveError('UNAVAILABLE', 'the client is closed'));
    if (this.state === 'expired') return Promise.reject(new SessionExpiredError(`session ${this.sessionId} has expired`));
    return new Promise<SessionResponse>((resolve, reject) => {
      const request: SessionRequest = { ...body, id: this.nextId++ };
      const pending: Pending = { request, resolve, reject, onAnswer, timer: undefined };
      const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
      const fail = (error: Error) => {
        if (this.inflight.get(request.id as number) === pending) this.inflight.delete(request.id as number);
        for (const list of [this.queued, this.backlog]) {
          const q = list.indexOf(pending);
          if (q >= 0) list.splice(q, 1);
        }
        clearTimeout(pending.timer);
        reject(error);
      };
      if (timeoutMs > 0) {
        pending.timer = setTimeout(() => fail(new TimeoutError(`no answer within ${timeoutMs} ms (${body.op}); its outcome is unknown`)), timeoutMs);
      }
      if (options.signal) {
        if (options.signal.aborted) return fail(options.signal.reason ?? new Error('aborted'));
        options.signal.addEventListener('abort', () => fail(options.signal!.reason ?? new Error('aborted')), { once: true });
      }
      if (this.stream !== undefined && (this.state === 'connected' || this.state === 'reconnected')) this.send(pending);
      else if (this.queued.length >= MAX_QUEUED) fail(new ConclaveError('RESOURCE_EXHAUSTED', 'too many requests waiting for a connection'));
      else this.queued.push(pending);
    });
  }

  /** Closes the session on the server (its ephemerals go) and the stream. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired') return this.shutdown('closed');
    if (this.state === 'connected' || this.state === 'reconnected') {
      try {
        await this.request({ op: 'close', close: {} }, { timeoutMs: 5_000 });
      } catch {
        // The server expires the session anyway.
      }
    }
    this.shutdown('closed');
  }

  /** Drops the connection without closing the session (tests, or moving to another member). */
  disconnect(): void {
    this.stream?.cancel();
  }

  // ------------------------------------------------------------------ connecting

  private stub(endpoint: string): ConclaveStub {
    let stub = this.stubs.get(endpoint);
    if (stub === undefined) {
      const Conclave = loadPublicApi().conclave.v1.Conclave;
      stub = new Conclave(endpoint, grpc.credentials.createInsecure(), { channelOverride: acquireChannel(endpoint) });
      this.stubs.set(endpoint, stub);
    }
    return stub;
  }

  private async connectLoop(first: boolean, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    let lastError: Error | undefined;
    let roundStarted = started;
    for (let attempt = 0; ; attempt++) {
      if (attempt % this.options.endpoints.length === 0) roundStarted = Date.now();
      if (this.state === 'closed' || this.state === 'expired') return;
      if (signal?.aborted) {
        throw lastError ? new UnavailableError(`cannot connect to ${this.options.endpoints.join(',')} (${lastError.message})`) : signal.reason;
      }
      const endpoint = this.options.endpoints[this.endpointIndex % this.options.endpoints.length]!;
      this.endpointIndex++;
      try {
        await this.connectTo(endpoint);
        return;
      } catch (error) {
        lastError = error as Error;
        if (error instanceof SessionExpiredError || (error as ConclaveError).code === 'UNAUTHENTICATED') {
          this.shutdown('expired');
          if (first) throw error;
          return;
        }
        // The cluster refused the session itself (too many sessions, a bad request): say so at once.
        if (first && ['RESOURCE_EXHAUSTED', 'INVALID_ARGUMENT'].includes((error as ConclaveError).code)) throw error;
        if (first && Date.now() - started > Math.max(this.options.connectTimeoutMs, this.options.sessionTimeoutMs)) {
          throw new UnavailableError(`cannot connect to ${this.options.endpoints.join(',')} (${lastError.message})`);
        }
      }
      const wait = connectPause(attempt, this.options.endpoints.length, Date.now() - roundStarted);
      if (wait > 0) await pause(wait, signal);
    }
  }

  private connectTo(endpoint: string): Promise<void> {
    // Moving a live session: each member gets its share of the session timeout (as ZooKeeper's
    // client does), so that a silent one does not use up the time the others need.
    const limit = this.sessionId === 0
      ? this.options.connectTimeoutMs
      : Math.min(this.options.connectTimeoutMs, Math.max(1_000, Math.floor(this.timeoutMs / this.options.endpoints.length)));
    return new Promise<void>((resolve, reject) => {
      const stream = openSessionStream(this.stub(endpoint));
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        stream.cancel();
        reject(new TimeoutError(`no connect answer from ${endpoint} within ${limit} ms`));
      }, limit);
      const connectId = this.nextId++;
      stream.on('data', (down: SessionDown) => {
        if (!settled) {
          const first = down.responses[0];
          if (first === undefined || first.id !== connectId) return;
          settled = true;
          clearTimeout(timer);
          if (first.error) {
            stream.cancel();
            return reject(errorFromCode(first.error.code as string, `${endpoint}: ${first.error.message}`));
          }
          // Closed while this connect was on its way: the session must not come back to life (and be
          // kept alive by this client's pings forever). Dropping the stream lets it expire.
          if (this.state === 'closed' || this.state === 'expired') {
            stream.cancel();
            return resolve();
          }
          this.opened(stream, endpoint, first.connect!, first.zxid);
          resolve();
          this.receive({ responses: down.responses.slice(1) });
          return;
        }
        if (this.stream === stream) this.receive(down);
      });
      const broken = (error: Error | undefined) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(error ?? new UnavailableError(`${endpoint} closed the stream`));
          return;
        }
        if (this.stream === stream) this.connectionLost(error?.message ?? 'the member closed the stream');
      };
      stream.on('error', (error: grpc.ServiceError) => broken(new UnavailableError(`${endpoint}: ${transportDetails(error.details || error.message)}`)));
      stream.on('end', () => broken(undefined));
      const restore = this.sessionId !== 0 && !this.watches.empty ? this.watches.toRestore(this.lastZxid) : null;
      stream.write({
        requests: [
          {
            id: connectId,
            op: 'connect',
            connect: {
              sessionId: this.sessionId,
              secret: this.secret as Buffer,
              timeoutMs: this.options.sessionTimeoutMs,
              lastZxid: this.lastZxid,
              watches: restore,
            },
          },
        ],
      });
    });
  }

  private opened(stream: grpc.ClientDuplexStream<SessionUp, SessionDown>, endpoint: string, connect: ConnectResponse, zxid: number): void {
    const resumed = this.sessionId !== 0;
    this.stream = stream;
    this.endpoint = endpoint;
    this.sessionId = connect.sessionId;
    this.secret = connect.secret;
    this.timeoutMs = connect.timeoutMs;
    this.memberId = connect.memberId;
    this.lastReceived = Date.now();
    if (zxid > this.lastZxid) this.lastZxid = zxid;
    this.setState(resumed ? 'reconnected' : 'connected');
    this.startKeepalive();
    const queued = this.queued;
    this.queued = [];
    for (const pending of queued) this.send(pending);
  }

  private connectionLost(reason: string): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    // Never sent: they wait for the next connection.
    this.queued.unshift(...this.backlog);
    this.backlog = [];
    const error = new ConnectionLossError(`connection to the member lost (${reason})`);
    const inflight = [...this.inflight.values()];
    this.inflight.clear();
    for (const p of inflight) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    if (this.state === 'closed' || this.state === 'expired') return;
    this.setState('disconnected');
    if (this.reconnecting) return;
    this.reconnecting = true;
    void this.connectLoop(false).finally(() => (this.reconnecting = false));
  }

  // ------------------------------------------------------------------ traffic

  private send(pending: Pending): void {
    if (this.inflight.size >= this.options.maxInFlight) {
      this.backlog.push(pending);
      return;
    }
    this.inflight.set(pending.request.id as number, pending);
    this.outbox.push(pending.request);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const requests = this.outbox;
    this.outbox = [];
    if (this.stream === undefined) return;
    this.lastSent = Date.now();
    for (const frame of splitFrames(requests, MAX_FRAME_BYTES)) this.stream.write({ requests: frame });
  }

  private receive(down: SessionDown): void {
    this.lastReceived = Date.now();
    for (const response of down.responses) {
      if (response.zxid > this.lastZxid) this.lastZxid = response.zxid;
      if (response.id === 0) {
        if (response.event) this.watches.dispatch(response.event as WatchEvent);
        else if (response.error) this.serverClosed(response.error.code as string, response.error.message);
        continue;
      }
      const pending = this.inflight.get(response.id);
      if (pending === undefined) continue;
      this.inflight.delete(response.id);
      clearTimeout(pending.timer);
      if (response.error && response.error.code !== 'OK') {
        const e = response.error;
        const error = errorFromCode(e.code as string, e.message, { path: e.path || undefined, opIndex: e.opIndex });
        if (response.multi) Object.assign(error, { results: response.multi.results });
        pending.reject(error);
      } else {
        pending.onAnswer?.(response);
        pending.resolve(response);
      }
    }
    while (this.backlog.length > 0 && this.inflight.size < this.options.maxInFlight) this.send(this.backlog.shift()!);
  }

  /** The member ended the session stream with an error. */
  private serverClosed(code: string, message: string): void {
    if (code === 'SESSION_EXPIRED') {
      this.shutdown('expired');
      return;
    }
    this.connectionLost(message);
  }

  /**
   * Pings after a third of the session timeout without sending (so the session stays alive and
   * the member's silence shows), and leaves a member that has said nothing for two thirds of it:
   * ZooKeeper's read timeout, which leaves a third for moving the session before it could expire.
   */
  private startKeepalive(): void {
    clearInterval(this.keepalive);
    const idle = Math.floor(this.timeoutMs / 3);
    const readTimeout = Math.floor((this.timeoutMs * 2) / 3);
    this.keepalive = setInterval(() => {
      if (this.stream === undefined) return;
      const now = Date.now();
      if (now - this.lastReceived > readTimeout) {
        this.connectionLost(`no answer from member ${this.memberId} for ${now - this.lastReceived} ms`);
        return;
      }
      if (now - this.lastSent >= idle) {
        this.request({ op: 'ping', ping: {} }, { timeoutMs: this.timeoutMs }).catch(() => undefined);
      }
    }, Math.max(20, Math.floor(this.timeoutMs / 15)));
    this.keepalive.unref();
  }

  private setState(state: SessionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private shutdown(state: 'closed' | 'expired'): void {
    clearInterval(this.keepalive);
    const pending = [...this.inflight.values(), ...this.backlog, ...this.queued];
    this.inflight.clear();
    this.backlog = [];
    this.queued = [];
    if (pending.length > 0) {
      // Built only when something waits: an error's stack trace is not free.
      const error = state === 'expired' ? new SessionExpiredError(`session ${this.sessionId} has expired`) : new ConclaveError('UNAVAILABLE', 'the client is closed');
      for (const p of pending) {
        clearTimeout(p.timer);
        p.reject(error);
      }
    }
    const stream = this.stream;
    this.stream = undefined;
    if (this.state !== 'closed' && this.state !== 'expired') this.setState(state);
    stream?.end();
    for (const endpoint of this.stubs.keys()) releaseChannel(endpoint);
    this.stubs.clear();
  }
}
