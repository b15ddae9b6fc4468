/**
 * The one typed error set of Conclave (semantics.md, "Errors"), shared by server and client. Every failure is
 * a ConclaveError with a machine-readable `code` (the proto ErrorCode name) and a human message;
 * the server converts it to gRPC status in exactly one place (api/status.ts). Pure: no Node built-ins.
 */

export type ErrorCode =
  | 'NO_NODE'
  | 'NODE_EXISTS'
  | 'BAD_VERSION'
  | 'NOT_EMPTY'
  | 'NO_CHILDREN_FOR_EPHEMERALS'
  | 'INVALID_PATH'
  | 'DATA_TOO_LARGE'
  | 'INVALID_ARGUMENT'
  | 'SESSION_EXPIRED'
  | 'SESSION_MOVED'
  | 'NOT_LEADER'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'UNIMPLEMENTED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL'
  | 'RUNTIME_INCONSISTENCY';

export interface ErrorDetails {
  path?: string;
  /** for a multi: the index of the op that failed */
  opIndex?: number;
  cause?: unknown;
}

export class ConclaveError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly opIndex: number;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.path = details.path;
    this.opIndex = details.opIndex ?? -1;
  }

  /** The same error, attributed to op `opIndex` of a multi. */
  atOp(opIndex: number): ConclaveError {
    const copy = new ConclaveError(this.code, this.message, { path: this.path, opIndex, cause: this.cause });
    Object.setPrototypeOf(copy, Object.getPrototypeOf(this));
    return copy;
  }
}

function errorClass(code: ErrorCode, name: string) {
  const cls = class extends ConclaveError {
    constructor(message: string, details: ErrorDetails = {}) {
      super(code, message, details);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  Object.defineProperty(cls.prototype, 'name', { value: name });
  return cls;
}

export const NoNodeError = errorClass('NO_NODE', 'NoNodeError');
export const NodeExistsError = errorClass('NODE_EXISTS', 'NodeExistsError');
export const BadVersionError = errorClass('BAD_VERSION', 'BadVersionError');
export const NotEmptyError = errorClass('NOT_EMPTY', 'NotEmptyError');
export const NoChildrenForEphemeralsError = errorClass('NO_CHILDREN_FOR_EPHEMERALS', 'NoChildrenForEphemeralsError');
export const InvalidPathError = errorClass('INVALID_PATH', 'InvalidPathError');
export const DataTooLargeError = errorClass('DATA_TOO_LARGE', 'DataTooLargeError');
export const InvalidArgumentError = errorClass('INVALID_ARGUMENT', 'InvalidArgumentError');
export const SessionExpiredError = errorClass('SESSION_EXPIRED', 'SessionExpiredError');
export const SessionMovedError = errorClass('SESSION_MOVED', 'SessionMovedError');
export const NotLeaderError = errorClass('NOT_LEADER', 'NotLeaderError');
export const UnavailableError = errorClass('UNAVAILABLE', 'UnavailableError');
export const TimeoutError = errorClass('TIMEOUT', 'TimeoutError');
export const UnimplementedError = errorClass('UNIMPLEMENTED', 'UnimplementedError');
export const UnauthenticatedError = errorClass('UNAUTHENTICATED', 'UnauthenticatedError');
export const PermissionDeniedError = errorClass('PERMISSION_DENIED', 'PermissionDeniedError');
export const ResourceExhaustedError = errorClass('RESOURCE_EXHAUSTED', 'ResourceExhaustedError');
export const InternalError = errorClass('INTERNAL', 'InternalError');
export const RuntimeInconsistencyError = errorClass('RUNTIME_INCONSISTENCY', 'RuntimeInconsistencyError');

/** Any thrown value as a ConclaveError; unknown failures become INTERNAL (never a stack trace to clients). */
export function asConclaveError(error: unknown): ConclaveError {
  if (error instanceof ConclaveError) return error;
  return new InternalError('internal error', { cause: error });
}

const CLASSES: Record<ErrorCode, new (message: string, details?: ErrorDetails) => ConclaveError> = {
  NO_NODE: NoNodeError,
  NODE_EXISTS: NodeExistsError,
  BAD_VERSION: BadVersionError,
  NOT_EMPTY: NotEmptyError,
  NO_CHILDREN_FOR_EPHEMERALS: NoChildrenForEphemeralsError,
  INVALID_PATH: InvalidPathError,
  DATA_TOO_LARGE: DataTooLargeError,
  INVALID_ARGUMENT: InvalidArgumentError,
  SESSION_EXPIRED: SessionExpiredError,
  SESSION_MOVED: SessionMovedError,
  NOT_LEADER: NotLeaderError,
  UNAVAILABLE: UnavailableError,
  TIMEOUT: TimeoutError,
  UNIMPLEMENTED: UnimplementedError,
  UNAUTHENTICATED: UnauthenticatedError,
  PERMISSION_DENIED: PermissionDeniedError,
  RESOURCE_EXHAUSTED: ResourceExhaustedError,
  INTERNAL: InternalError,
  RUNTIME_INCONSISTENCY: RuntimeInconsistencyError,
};

export const ERROR_CODES = Object.keys(CLASSES) as ErrorCode[];

/** The typed error for a code received from the wire (unknown codes become INTERNAL). */
export function errorFromCode(code: string, message: string, details: ErrorDetails = {}): ConclaveError {
  const cls = CLASSES[code as ErrorCode] ?? InternalError;
  return new cls(message, details);
}
