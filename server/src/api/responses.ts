/** Shapes apply outcomes into the public API's response messages. */
import type { SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import { ConclaveError, InternalError } from '../errors.js';
import type { ApplyOutcome } from '../fsm/state-machine.js';
import { toWireError } from './status.js';

type Result = Omit<SessionResponse, 'id' | 'zxid'>;

/** The session-stream result of a write: its response, or its error (with per-op results for a multi). */
export function writeResponse(outcome: ApplyOutcome | ConclaveError, withStat: boolean): Result {
  if (outcome instanceof ConclaveError) return { error: toWireError(outcome) };
  if (outcome.error) {
    const result: Result = { error: toWireError(outcome.error) };
    if (outcome.multiResults) result.multi = { results: outcome.multiResults };
    return result;
  }
  const r = outcome.result;
  switch (r.op) {
    case 'create':
      return { create: { path: r.path, stat: withStat ? r.stat : null } };
    case 'delete':
      return { delete: {} };
    case 'setData':
      return { setData: { stat: r.stat } };
    case 'multi':
      return { multi: { results: r.results } };
    default:
      return { error: toWireError(new InternalError(`unexpected result ${r.op} for a write`)) };
  }
}

/** The unary form: the response message, or a thrown ConclaveError. */
export function unaryWriteResponse<T>(outcome: ApplyOutcome, withStat: boolean): T {
  const result = writeResponse(outcome, withStat);
  if (result.error) throw outcome.error;
  return (result.create ?? result.delete ?? result.setData ?? result.multi) as T;
}
