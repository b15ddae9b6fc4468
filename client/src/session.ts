/**
 * A client session over the Session stream: connects to one of the endpoints, keeps the session
 * alive, pipelines requests (many in flight, answered in order), dispatches watch events, and when
 * the stream breaks, moves to another member with the same session id, secret and last seen zxid,
 * restoring its watches there (the server replays the changes it missed).
 *
 * Requests in flight when a stream breaks fail with ConnectionLossError (a write's outcome is then
 * unknown, as in ZooKeeper); requests made while disconnected wait for the next connection.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi } from '@conclave/proto';
import { ConclaveError, errorFromCode, SessionExpiredError, TimeoutError, UnavailableError } from '@conclave/proto/errors';
import type { ConclaveClient as ConclaveStub } from '@conclave/proto/gen/conclave/v1/Conclave.js';
import type { SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import type { SessionDown__Output as SessionDown } from '@conclave/proto/gen/conclave/v1/SessionDown.js';
import type { SessionRequest } from '@conclave/proto/gen/conclave/v1/SessionRequest.js';
import type { SessionResponse__Output as SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { ConnectResponse__Output as ConnectResponse } from '@conclave/proto/gen/conclave/v1/ConnectResponse.js';
import type { SessionState, WatchEvent } from './types.js';
import { ClientWatches } from './watches.js';

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

interface Pending {
  request: SessionRequest;
  /** runs as the answer is read, before any later message of the stream (a watch set by a read is registered before its events) */
  onAnswer: ((response: SessionResponse) => void) | undefined;
  resolve: (response: SessionResponse) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const MAX_QUEUED = 100_000;

export class Session extends EventEmitter {
  readonly watches = new ClientWatches();
  sessionId = 0;
  timeoutMs = 0;
  memberId = 0;
  lastZxid = 0;
  state: SessionState = 'connecting';
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
  private keepalive: NodeJS.Timeout | undefined;
  private reconnecting = false;
  private disconnectedAt = 0;

  constructor(private readonly options: SessionOptions) {
    super();
    this.endpointIndex = Math.floor(Math.random() * options.endpoints.length);
  }

  /** Opens the session on the first member that answers. */
  async open(): Promise<void> {
    await this.connectLoop(true);
  }

  /** Sends a request; resolves with the response (without its error), rejects with a typed error. */
  request(
    body: RequestBody,
    options: { timeoutMs?: number; signal?: AbortSignal; onAnswer?: (response: SessionResponse) => void } = {},
  ): Promise<SessionResponse> {
    if (this.state === 'closed') return Promise.reject(new ConclaveError('UNAVAILABLE', 'the client is closed'));
    if (this.state === 'expired') return Promise.reject(new SessionExpiredError(`session ${this.sessionId} has expired`));
    return new Promise<SessionResponse>((resolve, reject) => {
      const request: SessionRequest = { ...body, id: this.nextId++ };
      const pending: Pending = { request, onAnswer: options.onAnswer, resolve, reject, timer: undefined };
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
    if (this.state === 'closed') return;
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
      stub = new Conclave(endpoint, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': 8 * 1024 * 1024,
        'grpc.max_send_message_length': 8 * 1024 * 1024,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
      });
      this.stubs.set(endpoint, stub);
    }
    return stub;
  }

  private async connectLoop(first: boolean): Promise<void> {
    const started = Date.now();
    let lastError: Error | undefined;
    for (let attempt = 0; ; attempt++) {
      if (this.state === 'closed' || this.state === 'expired') return;
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
        if (first && Date.now() - started > Math.max(this.options.connectTimeoutMs, this.options.sessionTimeoutMs)) {
          throw new UnavailableError(`cannot connect to ${this.options.endpoints.join(',')}: ${lastError.message}`);
        }
      }
      if ((attempt + 1) % this.options.endpoints.length === 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * (attempt + 1))));
    }
  }

  private connectTo(endpoint: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stream = this.stub(endpoint).Session();
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        stream.cancel();
        reject(new TimeoutError(`no connect answer from ${endpoint} within ${this.options.connectTimeoutMs} ms`));
      }, this.options.connectTimeoutMs);
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
          this.opened(stream, first.connect!, first.zxid);
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
      stream.on('error', (error: grpc.ServiceError) => broken(new UnavailableError(`${endpoint}: ${error.details || error.message}`)));
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

  private opened(stream: grpc.ClientDuplexStream<SessionUp, SessionDown>, connect: ConnectResponse, zxid: number): void {
    const resumed = this.sessionId !== 0;
    this.stream = stream;
    this.sessionId = connect.sessionId;
    this.secret = connect.secret;
    this.timeoutMs = connect.timeoutMs;
    this.memberId = connect.memberId;
    if (zxid > this.lastZxid) this.lastZxid = zxid;
    this.setState(resumed ? 'reconnected' : 'connected');
    this.startKeepalive();
    const queued = this.queued;
    this.queued = [];
    for (const pending of queued) this.send(pending);
  }

  private connectionLost(reason: string): void {
    this.stream = undefined;
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
    this.disconnectedAt = Date.now();
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
    this.stream.write({ requests });
  }

  private receive(down: SessionDown): void {
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
    this.stream?.cancel();
    this.connectionLost(message);
  }

  private startKeepalive(): void {
    clearInterval(this.keepalive);
    const interval = Math.max(100, Math.floor(this.timeoutMs / 3));
    this.keepalive = setInterval(() => {
      if (this.stream === undefined) {
        if (this.disconnectedAt > 0 && Date.now() - this.disconnectedAt > this.timeoutMs) this.emit('suspended');
        return;
      }
      if (Date.now() - this.lastSent >= interval) {
        this.request({ op: 'ping', ping: {} }, { timeoutMs: this.timeoutMs }).catch(() => undefined);
      }
    }, interval);
    this.keepalive.unref();
  }

  private setState(state: SessionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private shutdown(state: 'closed' | 'expired'): void {
    clearInterval(this.keepalive);
    const error = state === 'expired' ? new SessionExpiredError(`session ${this.sessionId} has expired`) : new ConclaveError('UNAVAILABLE', 'the client is closed');
    const pending = [...this.inflight.values(), ...this.backlog, ...this.queued];
    this.inflight.clear();
    this.backlog = [];
    this.queued = [];
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    const stream = this.stream;
    this.stream = undefined;
    this.setState(state);
    stream?.end();
    for (const stub of this.stubs.values()) stub.close();
    this.stubs.clear();
  }
}
