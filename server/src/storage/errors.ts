/**
 * Storage failures as typed ConclaveErrors. Corruption is INTERNAL (an operator must look at the
 * disk); a full or failing disk is UNAVAILABLE (the member cannot take writes until it recovers).
 */
import { ConclaveError, type ErrorCode } from '../errors.js';

abstract class StorageError extends ConclaveError {
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    Object.defineProperty(this, 'name', { value: new.target.name, configurable: true });
  }
}

/** A WAL record failed its checksum or structure checks somewhere other than a torn tail. */
export class WalCorruptionError extends StorageError {
  constructor(
    readonly file: string,
    readonly offset: number,
    problem: string,
  ) {
    super('INTERNAL', `WAL corruption in ${file} at byte ${offset}: ${problem}`);
  }
}

/** A snapshot file (or a received transfer) failed verification. */
export class SnapshotCorruptionError extends StorageError {
  constructor(
    readonly file: string,
    readonly offset: number,
    problem: string,
  ) {
    super('INTERNAL', `snapshot corruption in ${file} at byte ${offset}: ${problem}`);
  }
}

/** ENOSPC or EDQUOT: nothing of the failed operation was acknowledged; retry once space returns. */
export class StorageFullError extends StorageError {
  constructor(message: string, cause?: unknown) {
    super('UNAVAILABLE', message, cause);
  }
}

/** EIO, a failed fsync, or any other I/O failure of the data directory. */
export class StorageIoError extends StorageError {
  constructor(message: string, cause?: unknown) {
    super('UNAVAILABLE', message, cause);
  }
}

/** The log was closed, or failed permanently after an I/O error it could not repair. */
export class WalClosedError extends StorageError {
  constructor(message: string, cause?: unknown) {
    super('UNAVAILABLE', message, cause);
  }
}

/** A caller bug: a non-contiguous append, an overwrite below the snapshot, a number out of range. */
export class InvalidLogWriteError extends StorageError {
  constructor(message: string) {
    super('INTERNAL', message);
  }
}

/** The data directory belongs to another cluster or member, or its identity file is unreadable. */
export class DataDirMismatchError extends StorageError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, cause);
  }
}

/** Wraps an fs failure: ENOSPC/EDQUOT become StorageFullError, everything else StorageIoError. */
export function storageFailure(error: unknown, action: string): StorageFullError | StorageIoError {
  if (error instanceof StorageFullError || error instanceof StorageIoError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StorageFullError(`disk full while trying to ${action}: ${detail}`, error);
  }
  return new StorageIoError(`I/O error while trying to ${action}: ${detail}`, error);
}
