/**
 * Histories of client operations, as Jepsen and Porcupine know them: every operation has an
 * invocation and a completion time (microseconds on this process's monotonic clock; all workload
 * clients run in this process), the client process that ran it, its input and its output.
 *
 * A completed operation is `ok` (it happened, with this output), `fail` (it certainly did not
 * happen) or `info` (the client never learned whether it happened: connection loss, timeout,
 * "outcome unknown"). An info operation has no completion time: it may take effect at any point
 * after its invocation, or never, which is how Porcupine expects it (a return time after every
 * other event).
 */
import { ConclaveError } from '@conclave/client';

export type Status = 'ok' | 'fail' | 'info';

export interface Operation<I = unknown, O = unknown> {
  process: number;
  /** what the operation was, for people: "write", "cas", "enqueue"... */
  f: string;
  input: I;
  /** invocation, µs */
  call: number;
  /** completion, µs; undefined while pending, and for info operations */
  ret?: number;
  status?: Status;
  output?: O;
  /** the error, for fail and info */
  error?: string;
  /** the zxid at which a write took effect, when its response tells (stat.mzxid, czxid) */
  zxid?: number;
  /** the transaction a write sends, to find it in the committed log when its outcome is unknown */
  txn?: TxnPattern;
  /** set when an unknown outcome was resolved from the committed log: 'applied' or 'absent' */
  resolved?: 'applied' | 'failed' | 'absent';
}

/** What identifies a write's transaction in the log: its session, kind, path, and data/version when given. */
export interface TxnPattern {
  sessionId: number;
  op: 'create' | 'delete' | 'setData' | 'multi';
  path: string;
  data?: string;
  version?: number;
}

const origin = process.hrtime.bigint();

/** Microseconds since this module loaded, from the monotonic clock. */
export function now(): number {
  return Number((process.hrtime.bigint() - origin) / 1000n);
}

export class History<I = unknown, O = unknown> {
  readonly ops: Operation<I, O>[] = [];
  private nextProcess = 0;

  constructor(readonly workload: string) {}

  /** A fresh process id (a client that lost track of an operation continues under a new id, as in Jepsen). */
  newProcess(): number {
    return this.nextProcess++;
  }

  invoke(process: number, f: string, input: I, txn?: TxnPattern): Operation<I, O> {
    const op: Operation<I, O> = { process, f, input, call: now(), txn };
    this.ops.push(op);
    return op;
  }

  ok(op: Operation<I, O>, output: O, zxid?: number): void {
    op.ret = now();
    op.status = 'ok';
    op.output = output;
    if (zxid !== undefined) op.zxid = zxid;
  }

  fail(op: Operation<I, O>, error: unknown, output?: O): void {
    op.ret = now();
    op.status = 'fail';
    op.error = describe(error);
    if (output !== undefined) op.output = output;
  }

  info(op: Operation<I, O>, error: unknown): void {
    op.status = 'info';
    op.error = describe(error);
  }

  /** Completes `op` from a thrown error: fail when the error says it certainly did not apply, info otherwise. */
  failOrInfo(op: Operation<I, O>, error: unknown, failedOutput?: O): Status {
    if (definitelyFailed(error)) {
      this.fail(op, error, failedOutput);
      return 'fail';
    }
    this.info(op, error);
    return 'info';
  }

  get counts(): Record<Status | 'pending', number> {
    const counts = { ok: 0, fail: 0, info: 0, pending: 0 };
    for (const op of this.ops) counts[op.status ?? 'pending']++;
    return counts;
  }

  /** Operations left pending when the run stopped become info (their outcome was never learned). */
  close(): void {
    for (const op of this.ops) if (op.status === undefined) this.info(op, 'still pending when the run ended');
  }
}

/** Codes a write fails with only when it was decided, in log order, to have no effect (or never reached the log). */
const DEFINITE = new Set([
  'NO_NODE',
  'NODE_EXISTS',
  'BAD_VERSION',
  'NOT_EMPTY',
  'NO_CHILDREN_FOR_EPHEMERALS',
  'INVALID_PATH',
  'DATA_TOO_LARGE',
  'INVALID_ARGUMENT',
  'RESOURCE_EXHAUSTED',
  'RUNTIME_INCONSISTENCY',
]);

/**
 * Whether a failed write certainly had no effect. UNAVAILABLE counts only when the server says "was
 * not applied" (refused before the log); ConnectionLoss, TIMEOUT and the rest are unknown. A
 * session error (SESSION_EXPIRED, SESSION_MOVED) that ends a stream is sent to every request still in
 * flight on it, so it is unknown too.
 */
export function definitelyFailed(error: unknown): boolean {
  if (!(error instanceof ConclaveError)) return false;
  if ((error as { outcomeUnknown?: boolean }).outcomeUnknown) return false;
  // The server closes a stream that its client does not read with RESOURCE_EXHAUSTED for every request in flight.
  if (error.code === 'RESOURCE_EXHAUSTED' && /not reading/.test(error.message)) return false;
  if (DEFINITE.has(error.code)) return true;
  return error.code === 'UNAVAILABLE' && /was not applied/.test(error.message);
}

/** The error code, for assertions on a thrown value. */
export function codeOf(error: unknown): string | undefined {
  return error instanceof ConclaveError ? error.code : undefined;
}

function describe(error: unknown): string {
  if (error instanceof ConclaveError) return `${error.name} ${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
