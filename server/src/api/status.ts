/**
 * The one place where Conclave errors become gRPC status (rule 5): the status code, the human
 * message as details, and the machine-readable Conclave code in trailing metadata.
 */
import * as grpc from '@grpc/grpc-js';
import { asConclaveError, type ConclaveError, type ErrorCode } from '../errors.js';

const STATUS: Record<ErrorCode, grpc.status> = {
  NO_NODE: grpc.status.NOT_FOUND,
  NODE_EXISTS: grpc.status.ALREADY_EXISTS,
  BAD_VERSION: grpc.status.FAILED_PRECONDITION,
  NOT_EMPTY: grpc.status.FAILED_PRECONDITION,
  NO_CHILDREN_FOR_EPHEMERALS: grpc.status.FAILED_PRECONDITION,
  INVALID_PATH: grpc.status.INVALID_ARGUMENT,
  DATA_TOO_LARGE: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  SESSION_EXPIRED: grpc.status.FAILED_PRECONDITION,
  SESSION_MOVED: grpc.status.FAILED_PRECONDITION,
  NOT_LEADER: grpc.status.FAILED_PRECONDITION,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  INTERNAL: grpc.status.INTERNAL,
  RUNTIME_INCONSISTENCY: grpc.status.ABORTED,
};

export const ERROR_CODE_KEY = 'conclave-error';
export const ERROR_PATH_KEY = 'conclave-path';
export const ERROR_OP_INDEX_KEY = 'conclave-op-index';

export function toServiceError(error: unknown): grpc.ServiceError {
  const e = asConclaveError(error);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_KEY, e.code);
  // A metadata value must be printable ASCII (grpc-js throws otherwise); any other path goes, as
  // its UTF-8 bytes, under the binary key (gRPC's "-bin" suffix).
  if (e.path && /^[\x20-\x7e]*$/.test(e.path)) metadata.set(ERROR_PATH_KEY, e.path);
  else if (e.path) metadata.set(`${ERROR_PATH_KEY}-bin`, Buffer.from(e.path));
  if (e.opIndex >= 0) metadata.set(ERROR_OP_INDEX_KEY, String(e.opIndex));
  return Object.assign(new Error(e.message), { code: STATUS[e.code], details: e.message, metadata }) as grpc.ServiceError;
}

/** The error as it travels inside a session stream message. */
export function toWireError(error: ConclaveError): { code: ErrorCode; message: string; path: string; opIndex: number } {
  return { code: error.code, message: error.message, path: error.path ?? '', opIndex: error.opIndex };
}
