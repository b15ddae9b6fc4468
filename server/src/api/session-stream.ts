/**
 * One client session stream (Conclave.Session): requests go up in order, responses and watch events
 * come down in one order. The FIFO rule (as ZooKeeper's): every request gets its response in the
 * order sent; writes are sent into the log at once (pipelined); a read runs only when every earlier
 * request of the session has been answered, so it sees the session's own writes, and any watch
 * event for a change it reflects was queued before it.
 */
import type * as grpc from '@grpc/grpc-js';
import { splitFrames } from '@conclave/proto';
import type { SessionUp__Output as SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import type { SessionRequest__Output as SessionRequest } from '@conclave/proto/gen/conclave/v1/SessionRequest.js';
import type { SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { ConnectRequest__Output as ConnectRequest } from '@conclave/proto/gen/conclave/v1/ConnectRequest.js';
import {
  ConclaveError,
  InvalidArgumentError,
  ResourceExhaustedError,
  SessionExpiredError,
  TimeoutError,
  UnauthenticatedError,
  asConclaveError,
} from '../errors.js';
import { sameBytes } from '../fsm/state-machine.js';
import { checkId, prepareWrite } from '../pipeline/prepare.js';
import * as reads from '../pipeline/reads.js';
import { validatePath } from '../tree/path.js';
import type { WatchEvent, Watcher } from '../watch/registry.js';
import { restoreWatches } from '../watch/restore.js';
import { leaderlessError, mayHoldSession, type ApiContext } from './context.js';
import { toWireError } from './status.js';
import { writeResponse } from './responses.js';
import { encodeSessionResponse, type SessionDownParts } from './session-down.js';

type Result = Omit<SessionResponse, 'id' | 'zxid'>;

/**
 * The encoding of an event's response. The registry hands one event object to every watcher it
 * fires for, one after the other, so remembering the last one encodes each event once.
 */
let lastEvent: WatchEvent | undefined;
let lastEventBytes: Uint8Array = new Uint8Array(0);
function encodedEvent(event: WatchEvent): Uint8Array {
  if (event !== lastEvent) {
    lastEventBytes = encodeSessionResponse({ id: 0, zxid: event.zxid, event: { type: event.type, path: event.path, zxid: event.zxid } });
    lastEvent = event;
  }
  return lastEventBytes;
}

interface Slot {
  id: number;
  op: string;
  started: number;
  /** set once answered */
  result: Result | undefined;
  /** for reads and other local ops: runs when the slot reaches the head (and `ready`) */
  run: (() => Result) | undefined;
  /** false while a linearizable read waits for its quorum round */
  ready: boolean;
}

const WRITE_OPS = new Set(['create', 'delete', 'setData', 'multi']);
/** Responses per stream message, in (estimated) bytes: well under the 4 MiB gRPC limit. */
const MAX_FRAME_BYTES = 1024 * 1024;

export class SessionStream implements Watcher {
  sessionId = 0;
  /** the session's timeout, once open */
  timeoutMs = 0;
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  private readonly slots: Slot[] = [];
  private outbox: Array<SessionResponse | Uint8Array> = [];
  private flushScheduled = false;
  private unflushedWrites = 0;
  private connectId: number | undefined;
  /** requests sent right behind the connect, before it was answered */
  private early: SessionRequest[] = [];

  constructor(
    private readonly call: grpc.ServerDuplexStream<SessionUp, SessionDownParts>,
    private readonly ctx: ApiContext,
  ) {
    call.on('data', (up: SessionUp) => this.receive(up));
    call.on('end', () => this.detach());
    call.on('error', () => this.detach());
    call.on('cancelled', () => this.detach());
    call.on('close', () => this.detach());
    call.on('drain', () => (this.unflushedWrites = 0));
  }

  /** requests received and not answered yet */
  get outstanding(): number {
    return this.slots.length + this.early.length;
  }

  // ------------------------------------------------------------------ inbound

  private receive(up: SessionUp): void {
    for (const request of up.requests) {
      if (this.state === 'closed') return;
      try {
        this.accept(request);
      } catch (error) {
        this.ctx.logger.error({ err: error }, 'session request failed unexpectedly');
        this.answerNow(request.id, request.op ?? 'unknown', { error: toWireError(asConclaveError(error)) });
      }
    }
    this.pump();
  }

  private accept(request: SessionRequest): void {
    const op = request.op ?? 'unknown';
    if (this.state === 'connecting') {
      if (this.connectId !== undefined) {
        // Pipelined behind the connect: handled once the session is open.
        if (this.early.length >= this.ctx.options.maxOutstandingPerSession) {
          return this.answerNow(request.id, op, errorResult(new ResourceExhaustedError('too many requests before the session opened')));
        }
        this.early.push(request);
        return;
      }
      if (op !== 'connect') return this.closeWith(new InvalidArgumentError('the first request of a session stream must be a connect'));
      this.connectId = request.id;
      return this.connect(request.id, request.connect!);
    }
    if (op === 'connect') return this.answerNow(request.id, op, errorResult(new InvalidArgumentError('already connected')));
    this.ctx.node.touch(this.sessionId);
    if (this.slots.length >= this.ctx.options.maxOutstandingPerSession) {
      return this.answerNow(request.id, op, errorResult(new ResourceExhaustedError(
        `a session may have at most ${this.ctx.options.maxOutstandingPerSession} requests in flight`)));
    }
    const slot: Slot = { id: request.id, op, started: performance.now(), result: undefined, run: undefined, ready: true };
    this.slots.push(slot);
    if (WRITE_OPS.has(op)) return this.write(slot, request);
    switch (op) {
      case 'ping':
        slot.result = { ping: {} };
        return;
      case 'close':
        return this.ctx.node.submitWrite(
          { op: 'closeSession', closeSession: { sessionId: this.sessionId, expired: false } },
          this.sessionId,
          (outcome) => this.complete(slot, outcome instanceof ConclaveError ? errorResult(outcome) : outcome.error ? errorResult(outcome.error) : { close: {} }),
        );
      case 'sync':
        slot.ready = false;
        slot.run = () => ({ sync: { path: validatePath(request.sync!.path, this.ctx.options.limits.maxPathBytes) } });
        return this.ctx.node.linearizableBarrier((error) => this.release(slot, error));
      default:
        slot.run = this.reader(op, request);
        if (request.linearizable) {
          slot.ready = false;
          this.ctx.node.linearizableBarrier((error) => this.release(slot, error));
        }
    }
  }

  private write(slot: Slot, request: SessionRequest): void {
    let body;
    try {
      body = prepareWrite(request as Parameters<typeof prepareWrite>[0], { sessionId: this.sessionId }, this.ctx.options.limits);
    } catch (error) {
      slot.result = errorResult(asConclaveError(error));
      return;
    }
    const withStat = request.create?.withStat ?? false;
    this.ctx.node.submitWrite(body, this.sessionId, (outcome) => this.complete(slot, writeResponse(outcome, withStat)));
  }

  /** A local operation run in order: reads, and watch management. */
  private reader(op: string, request: SessionRequest): () => Result {
    const ctx = this.ctx;
    const readCtx = (): reads.ReadContext => ({
      tree: ctx.node.fsm.tree,
      registry: ctx.node.watches,
      watcher: this,
      maxPathBytes: ctx.options.limits.maxPathBytes,
      maxWatches: ctx.options.maxWatchesPerSession,
    });
    switch (op) {
      case 'getData':
        return () => ({ getData: reads.getData(readCtx(), request.getData!.path, request.getData!.watch) });
      case 'exists':
        return () => ({ exists: reads.exists(readCtx(), request.exists!.path, request.exists!.watch) });
      case 'getChildren': {
        const r = request.getChildren!;
        return () => ({ getChildren: reads.getChildren(readCtx(), r.path, r.watch, r.withStat) });
      }
      case 'getAllChildrenNumber':
        return () => ({ getAllChildrenNumber: reads.getAllChildrenNumber(readCtx(), request.getAllChildrenNumber!.path) });
      case 'getEphemerals':
        return () => ({ getEphemerals: reads.getEphemerals(readCtx(), this.sessionId, request.getEphemerals!.prefix) });
      case 'multiRead':
        return () => ({ multiRead: { results: reads.multiRead(readCtx(), request.multiRead!.ops, ctx.options.limits.maxMultiOps) } });
      case 'addWatch': {
        const { path, mode } = request.addWatch!;
        return () => {
          const valid = validatePath(path, ctx.options.limits.maxPathBytes);
          if (mode !== 'PERSISTENT_WATCH' && mode !== 'PERSISTENT_RECURSIVE_WATCH') throw new InvalidArgumentError(`unknown watch mode ${String(mode)}`);
          reads.checkWatchLimit(ctx.node.watches, this, ctx.options.maxWatchesPerSession);
          ctx.node.watches.add(mode === 'PERSISTENT_WATCH' ? 'persistent' : 'recursive', valid, this);
          return { addWatch: {} };
        };
      }
      case 'removeWatches': {
        const { path, type } = request.removeWatches!;
        return () => {
          const valid = validatePath(path, ctx.options.limits.maxPathBytes);
          if (!ctx.node.watches.remove(valid, type as never, this)) {
            throw new InvalidArgumentError(`no ${String(type).toLowerCase()} watch on ${valid}`, { path: valid });
          }
          return { removeWatches: {} };
        };
      }
      case 'setWatches': {
        const w = request.setWatches!;
        return () => {
          this.checkRestoreLimit(w);
          restoreWatches(w, this, ctx.node.watches, ctx.node.fsm.tree, ctx.node.history, ctx.node.appliedIndex);
          return { setWatches: {} };
        };
      }
      default:
        return () => {
          throw new InvalidArgumentError(`unknown request ${op}`);
        };
    }
  }

  private checkRestoreLimit(w: NonNullable<ConnectRequest['watches']>): void {
    const count = w.dataWatches.length + w.existWatches.length + w.childWatches.length + w.persistentWatches.length + w.persistentRecursiveWatches.length;
    if (count + this.ctx.node.watches.countOf(this) > this.ctx.options.maxWatchesPerSession) {
      throw new ResourceExhaustedError(`a session may hold at most ${this.ctx.options.maxWatchesPerSession} watches`);
    }
  }

  // ------------------------------------------------------------------ connect

  private connect(requestId: number, request: ConnectRequest): void {
    const ctx = this.ctx;
    const timeoutMs = ctx.node.clampSessionTimeout(request.timeoutMs);
    const fail = (error: unknown) => {
      if (this.state !== 'connecting') return;
      const e = asConclaveError(error);
      this.answerNow(requestId, 'connect', errorResult(e));
      for (const r of this.early) this.answerNow(r.id, r.op ?? 'unknown', errorResult(e));
      this.early = [];
      this.closeWith(undefined);
    };
    const createSession = () => {
      if (ctx.node.fsm.sessions.size >= ctx.options.maxSessions) {
        return fail(new ResourceExhaustedError(`the cluster holds ${ctx.node.fsm.sessions.size} sessions, its limit`));
      }
      const secret = ctx.node.newSecret();
      ctx.node.submitWrite({ op: 'createSession', createSession: { timeoutMs, secret: secret as Buffer, lease: false } }, 0, (outcome) => {
        if (outcome instanceof ConclaveError) return fail(outcome);
        if (outcome.error) return fail(outcome.error);
        if (outcome.result.op !== 'createSession') return fail(new Error('unexpected result'));
        this.opened(requestId, outcome.result.session.id, secret, outcome.result.session.timeoutMs, undefined);
      });
    };
    let sessionId: number;
    try {
      sessionId = checkId(request.sessionId, 'session');
      checkId(request.lastZxid, 'last zxid');
    } catch (error) {
      return fail(error);
    }
    // Never serve a client a state older than what it has seen (a new session's client may have seen some too).
    const caughtUp = ctx.node.waitApplied(request.lastZxid);
    const timer = setTimeout(() => fail(new TimeoutError(`member is behind zxid ${request.lastZxid}; try another member`)), ctx.options.connectTimeoutMs);
    void caughtUp.then(() => {
      clearTimeout(timer);
      if (this.state !== 'connecting') return;
      if (sessionId === 0) return createSession();
      const session = ctx.node.fsm.sessions.get(sessionId);
      if (session === undefined || session.lease) return fail(new SessionExpiredError(`session ${sessionId} has expired`));
      if (!sameBytes(session.secret, request.secret)) return fail(new UnauthenticatedError(`wrong secret for session ${sessionId}`));
      const leaderlessMs = ctx.node.leaderlessMs();
      if (!mayHoldSession(leaderlessMs, session.timeoutMs)) return fail(leaderlessError(ctx.node.id, leaderlessMs));
      const resume = () => this.opened(requestId, sessionId, session.secret, session.timeoutMs, request.watches ?? undefined);
      if (session.owner === ctx.node.id) return resume();
      ctx.node.submitWrite({ op: 'moveSession', moveSession: { sessionId, secret: request.secret } }, sessionId, (outcome) => {
        if (outcome instanceof ConclaveError) return fail(outcome);
        if (outcome.error) return fail(outcome.error);
        resume();
      });
    });
  }

  private opened(requestId: number, sessionId: number, secret: Uint8Array, timeoutMs: number, watches: ConnectRequest['watches'] | undefined): void {
    if (this.state !== 'connecting') return;
    this.sessionId = sessionId;
    this.timeoutMs = timeoutMs;
    this.state = 'open';
    this.ctx.sessions.attach(sessionId, this);
    this.ctx.node.touch(sessionId);
    this.answerNow(requestId, 'connect', { connect: { sessionId, secret: secret as Buffer, timeoutMs, memberId: this.ctx.node.id } });
    if (watches) {
      try {
        this.checkRestoreLimit(watches);
      } catch (error) {
        this.closeWith(asConclaveError(error));
        return;
      }
      restoreWatches(watches, this, this.ctx.node.watches, this.ctx.node.fsm.tree, this.ctx.node.history, this.ctx.node.appliedIndex);
    }
    const early = this.early;
    this.early = [];
    this.receive({ requests: early });
  }

  // ------------------------------------------------------------------ outbound

  /** Watcher: a watch event, queued after everything already answered. */
  deliver(event: WatchEvent): void {
    if (this.state === 'closed') return;
    this.enqueue(encodedEvent(event));
  }

  private complete(slot: Slot, result: Result): void {
    slot.result = result;
    this.pump();
  }

  private release(slot: Slot, error: ConclaveError | undefined): void {
    if (error) slot.result = errorResult(error);
    slot.ready = true;
    this.pump();
  }

  /** Answers from the head of the FIFO while the head is answered or runnable. */
  private pump(): void {
    while (this.slots.length > 0 && this.state !== 'closed') {
      const head = this.slots[0]!;
      if (head.result === undefined) {
        if (head.run === undefined || !head.ready) return;
        try {
          head.result = head.run();
        } catch (error) {
          head.result = errorResult(asConclaveError(error));
        }
      }
      this.slots.shift();
      this.ctx.observe(head.op, head.started, head.result.error?.code);
      this.enqueue({ id: head.id, zxid: this.ctx.node.appliedIndex, ...head.result });
    }
  }

  private answerNow(id: number, op: string, result: Result): void {
    this.ctx.observe(op, performance.now(), result.error?.code);
    this.enqueue({ id, zxid: this.ctx.node.appliedIndex, ...result });
  }

  private enqueue(response: SessionResponse | Uint8Array): void {
    this.outbox.push(response);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.call.destroyed) return;
    const responses = this.outbox;
    this.outbox = [];
    // Counts responses written while the stream is over its high-water mark (write() said no and
    // 'drain' has not come yet): only a client that stops reading gets there.
    let writable = true;
    for (const frame of splitFrames(responses, MAX_FRAME_BYTES)) writable = this.call.write(frame);
    if (writable) this.unflushedWrites = 0;
    else this.unflushedWrites += responses.length;
    if (this.unflushedWrites > this.ctx.options.maxOutboundMessages && this.state !== 'closed') {
      this.closeWith(new ResourceExhaustedError('the client is not reading its session stream; closing it'));
    }
  }

  // ------------------------------------------------------------------ closing

  /** Ends the stream: with a final error message (id 0) when given. The session itself lives on until it expires. */
  closeWith(error: ConclaveError | undefined): void {
    if (this.state === 'closed') return;
    const unanswered = this.slots.splice(0);
    this.detach();
    if (error) {
      this.enqueue({ id: 0, zxid: this.ctx.node.appliedIndex, error: toWireError(error) });
      for (const slot of unanswered) this.enqueue({ id: slot.id, zxid: this.ctx.node.appliedIndex, error: toWireError(error) });
    }
    this.flush();
    this.call.end();
  }

  private detach(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.node.watches.removeWatcher(this);
    if (this.sessionId !== 0) this.ctx.sessions.detach(this.sessionId, this);
  }
}

function errorResult(error: ConclaveError): Result {
  return { error: toWireError(error) };
}

