/**
 * Errors of the Raft core, part of the server's one typed error set (../errors.ts).
 * Storage errors are internal: a correct caller never sees them outside the core.
 */

import { ConclaveError, type ErrorCode } from '../errors.js';

export type ProposalDroppedReason =
  | 'no-leader'
  | 'leadership-transfer'
  | 'uncommitted-limit'
  | 'not-a-member'
  | 'conf-change-pending';

/** The core did not accept a proposal or read request; the caller may retry (elsewhere, or later). */
export class ProposalDroppedError extends ConclaveError {
  override readonly name = 'ProposalDroppedError';
  readonly reason: ProposalDroppedReason;

  constructor(reason: ProposalDroppedReason) {
    const code: ErrorCode = reason === 'uncommitted-limit' ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE';
    super(code, `raft proposal dropped: ${reason}`);
    this.reason = reason;
  }
}

/** A membership change that does not fit the current configuration (e.g. promoting a non-learner). */
export class InvalidConfChangeError extends ConclaveError {
  override readonly name = 'InvalidConfChangeError';

  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** The requested index is older than the storage's first index (compacted into a snapshot). */
export class ErrCompacted extends ConclaveError {
  override readonly name = 'ErrCompacted';

  constructor(index: number, firstIndex: number) {
    super('INTERNAL', `raft log index ${index} is compacted (first index ${firstIndex})`);
  }
}

/** The requested index is beyond the storage's last index. */
export class ErrUnavailable extends ConclaveError {
  override readonly name = 'ErrUnavailable';

  constructor(index: number, lastIndex: number) {
    super('INTERNAL', `raft log index ${index} is unavailable (last index ${lastIndex})`);
  }
}

/** A snapshot older than the one already held. */
export class ErrSnapOutOfDate extends ConclaveError {
  override readonly name = 'ErrSnapOutOfDate';

  constructor(index: number, current: number) {
    super('INTERNAL', `raft snapshot at index ${index} is out of date (current snapshot at ${current})`);
  }
}

/** A broken invariant of the core or a misuse of its API: a bug, never a condition to handle. */
export class RaftInvariantError extends ConclaveError {
  override readonly name = 'RaftInvariantError';

  constructor(message: string) {
    super('INTERNAL', `raft: ${message}`);
  }
}
