import type { Txn } from '../../src/fsm/state-machine.js';

let seq = 0;

/** A Txn as the decoder would produce it, with only the given fields set. */
export function txn(fields: Partial<Txn> & { op: NonNullable<Txn['op']> }): Txn {
  return { origin: 1, originSeq: ++seq, sessionId: 0, timeMs: 1_000, ...fields } as Txn;
}

export const bytes = (s: string): Buffer => Buffer.from(s);

export function create(path: string, data = '', kind = 'PERSISTENT', extra: Partial<Txn> & { ttlMs?: number; leaseId?: number } = {}): Txn {
  const { ttlMs = 0, leaseId = 0, ...rest } = extra;
  return txn({ op: 'create', create: { path, data: bytes(data), kind: kind as never, ttlMs, leaseId, withStat: false }, ...rest });
}
export function setData(path: string, data: string, version = -1, extra: Partial<Txn> = {}): Txn {
  return txn({ op: 'setData', setData: { path, data: bytes(data), version }, ...extra });
}
export function del(path: string, version = -1, extra: Partial<Txn> = {}): Txn {
  return txn({ op: 'delete', delete: { path, version }, ...extra });
}
export function createSession(timeoutMs = 10_000, extra: Partial<Txn> = {}): Txn {
  return txn({ op: 'createSession', createSession: { timeoutMs, secret: bytes('s3cret'), lease: false }, ...extra });
}
export function closeSession(sessionId: number, extra: Partial<Txn> = {}): Txn {
  return txn({ op: 'closeSession', closeSession: { sessionId, expired: false }, ...extra });
}
