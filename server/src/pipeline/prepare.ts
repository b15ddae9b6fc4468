/**
 * prepare: turns a client write request into the body of a transaction, after the checks that need
 * no state (paths, kinds, versions, sizes, limits). Everything that depends on the tree is decided
 * when the transaction is applied, in log order (see fsm/state-machine.ts). Pure.
 */
import type { CreateRequest__Output as CreateRequest } from '@conclave/proto/gen/conclave/v1/CreateRequest.js';
import type { DeleteRequest__Output as DeleteRequest } from '@conclave/proto/gen/conclave/v1/DeleteRequest.js';
import type { SetDataRequest__Output as SetDataRequest } from '@conclave/proto/gen/conclave/v1/SetDataRequest.js';
import type { CheckRequest__Output as CheckRequest } from '@conclave/proto/gen/conclave/v1/CheckRequest.js';
import type { Op__Output as Op } from '@conclave/proto/gen/conclave/v1/Op.js';
import {
  DataTooLargeError,
  InvalidArgumentError,
  InvalidPathError,
  ResourceExhaustedError,
  asConclaveError,
} from '../errors.js';
import { assertWritable, ROOT, validatePath } from '../tree/path.js';
import { isEphemeralKind, isSequentialKind, isTtlKind, NODE_KINDS, type NodeKind } from '../tree/tree.js';
import type { Txn } from '../fsm/state-machine.js';

export interface RequestLimits {
  /** bytes of data per node */
  maxDataBytes: number;
  /** UTF-8 bytes per path */
  maxPathBytes: number;
  /** ops per multi */
  maxMultiOps: number;
  /** longest TTL accepted, ms (ZooKeeper's limit: 2^40 - 1) */
  maxTtlMs: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  maxDataBytes: 1024 * 1024,
  maxPathBytes: 4096,
  maxMultiOps: 1000,
  maxTtlMs: 2 ** 40 - 1,
};

/** A multi may carry a few nodes' worth of data (and always fits in one gRPC message of 4 MiB + overhead). */
const MULTI_DATA_FACTOR = 3;

/** The part of a Txn that the request determines (origin, session and time are added later). */
export type TxnBody = Pick<Txn, 'op' | 'create' | 'delete' | 'setData' | 'multi'>;

/** Who is asking: an ephemeral node needs an owner. */
export interface Requester {
  sessionId: number;
}

function checkVersion(version: unknown, path: string): number {
  if (!Number.isInteger(version) || (version as number) < -1) {
    throw new InvalidArgumentError(`version must be -1 (any) or a non-negative integer, not ${String(version)}`, { path });
  }
  return version as number;
}

function checkData(data: Uint8Array | undefined, limits: RequestLimits, path: string): Uint8Array {
  const bytes = data ?? new Uint8Array(0);
  if (bytes.length > limits.maxDataBytes) {
    throw new DataTooLargeError(`data is ${bytes.length} bytes; the limit is ${limits.maxDataBytes}`, { path });
  }
  return bytes;
}

/** A uint64 id from the wire: Conclave's ids are below 2^53; anything else cannot be ours. */
export function checkId(id: unknown, what: string): number {
  if (!Number.isSafeInteger(id) || (id as number) < 0) throw new InvalidArgumentError(`${what} ${String(id)} is not a valid id`);
  return id as number;
}

export function prepareCreate(request: CreateRequest, requester: Requester, limits: RequestLimits): CreateRequest {
  const kind = request.kind as NodeKind;
  if (!NODE_KINDS.includes(kind)) throw new InvalidArgumentError(`unknown node kind ${String(request.kind)}`, { path: request.path });
  const sequential = isSequentialKind(kind);
  const path = validatePath(request.path, limits.maxPathBytes, sequential);
  if (path === ROOT && !sequential) throw new InvalidPathError('the root cannot be created', { path });
  assertWritable(sequential && path.endsWith('/') && path !== ROOT ? path.slice(0, -1) : path);
  const ttlMs = request.ttlMs ?? 0;
  if (isTtlKind(kind)) {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > limits.maxTtlMs) {
      throw new InvalidArgumentError(`a TTL node needs 0 < ttlMs <= ${limits.maxTtlMs}, not ${ttlMs}`, { path });
    }
  } else if (ttlMs !== 0) {
    throw new InvalidArgumentError(`ttlMs is only for TTL nodes, not ${kind}`, { path });
  }
  const leaseId = checkId(request.leaseId ?? 0, 'lease');
  if (isEphemeralKind(kind)) {
    if (leaseId === 0 && requester.sessionId === 0) {
      throw new InvalidArgumentError('an ephemeral node needs a session or a lease_id', { path });
    }
  } else if (leaseId !== 0) {
    throw new InvalidArgumentError(`lease_id is only for ephemeral nodes, not ${kind}`, { path });
  }
  return { path, data: checkData(request.data, limits, path) as Buffer, kind, ttlMs, leaseId, withStat: !!request.withStat };
}

export function prepareDelete(request: DeleteRequest, limits: RequestLimits): DeleteRequest {
  const path = validatePath(request.path, limits.maxPathBytes);
  if (path === ROOT) throw new InvalidPathError('the root cannot be deleted', { path });
  assertWritable(path);
  return { path, version: checkVersion(request.version ?? -1, path) };
}

export function prepareSetData(request: SetDataRequest, limits: RequestLimits): SetDataRequest {
  const path = validatePath(request.path, limits.maxPathBytes);
  assertWritable(path);
  return { path, data: checkData(request.data, limits, path) as Buffer, version: checkVersion(request.version ?? -1, path) };
}

export function prepareCheck(request: CheckRequest, limits: RequestLimits): CheckRequest {
  const path = validatePath(request.path, limits.maxPathBytes);
  return { path, version: checkVersion(request.version ?? -1, path) };
}

export function prepareMulti(ops: Op[], requester: Requester, limits: RequestLimits): Op[] {
  if (ops.length > limits.maxMultiOps) {
    throw new ResourceExhaustedError(`a multi has at most ${limits.maxMultiOps} ops, not ${ops.length}`);
  }
  const prepared = ops.map((op, i): Op => {
    try {
      switch (op.op) {
        case 'create':
          return { op: 'create', create: prepareCreate(op.create!, requester, limits) };
        case 'delete':
          return { op: 'delete', delete: prepareDelete(op.delete!, limits) };
        case 'setData':
          return { op: 'setData', setData: prepareSetData(op.setData!, limits) };
        case 'check':
          return { op: 'check', check: prepareCheck(op.check!, limits) };
        default:
          throw new InvalidArgumentError(`multi op ${i} has no operation`);
      }
    } catch (error) {
      throw asConclaveError(error).atOp(i);
    }
  });
  const totalData = prepared.reduce((sum, op) => sum + (op.create?.data.length ?? op.setData?.data.length ?? 0), 0);
  if (totalData > MULTI_DATA_FACTOR * limits.maxDataBytes) {
    throw new DataTooLargeError(`a multi carries at most ${MULTI_DATA_FACTOR * limits.maxDataBytes} bytes of data, not ${totalData}`);
  }
  return prepared;
}

/** The transaction body for one write request of the client API. */
export function prepareWrite(
  request:
    | { op: 'create'; create: CreateRequest }
    | { op: 'delete'; delete: DeleteRequest }
    | { op: 'setData'; setData: SetDataRequest }
    | { op: 'multi'; multi: { ops: Op[] } },
  requester: Requester,
  limits: RequestLimits,
): TxnBody {
  switch (request.op) {
    case 'create':
      return { op: 'create', create: prepareCreate(request.create, requester, limits) };
    case 'delete':
      return { op: 'delete', delete: prepareDelete(request.delete, limits) };
    case 'setData':
      return { op: 'setData', setData: prepareSetData(request.setData, limits) };
    case 'multi':
      return { op: 'multi', multi: { ops: prepareMulti(request.multi.ops ?? [], requester, limits) } };
  }
}
