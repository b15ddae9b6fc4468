/**
 * A log entry's transaction (conclave.raft.v1.Txn) decoded by hand, into the same objects protobufjs
 * makes of it (every field present, enums as names, `op` naming the one set). Every member decodes
 * every entry it applies, and a restart replays its log through here: protobufjs's generic path
 * (decode, then toObject, then a copy of each node's data out of the view decode made) was 14% of a
 * restart's replay of 1M creates and made two Buffers per znode, where this makes one. Bytes
 * fields are copied out of the entry, except nodes' data that the tree copies itself (nodeData):
 * the tree must not keep whole entries (or the peer batches they came in) alive. Malformed bytes
 * are a TxnDecodeError.
 */
import type { Txn__Output as Txn } from '@conclave/proto/gen/conclave/raft/v1/Txn.js';
import type { CreateRequest__Output as CreateRequest } from '@conclave/proto/gen/conclave/v1/CreateRequest.js';
import type { Op__Output as Op } from '@conclave/proto/gen/conclave/v1/Op.js';
import type { NodeKind__Output as NodeKind } from '@conclave/proto/gen/conclave/v1/NodeKind.js';
import { WireReader, WireType } from '@conclave/proto/wire';
import { DATA_COPIED_MAX_BYTES, NODE_KINDS } from './tree/tree.js';

export class TxnDecodeError extends Error {
  constructor(reason: string) {
    super(`malformed transaction: ${reason}`);
    this.name = 'TxnDecodeError';
  }
}

const malformed = (reason: string) => new TxnDecodeError(reason);

const EMPTY: Buffer = Buffer.alloc(0);

function varint(r: WireReader, wireType: number, name: string): number {
  r.expect(wireType, WireType.Varint, name);
  return r.varint();
}

function uint32(r: WireReader, wireType: number, name: string): number {
  r.expect(wireType, WireType.Varint, name);
  return r.uint32();
}

/** int32 as protobuf reads it: the low 32 bits, signed. */
const int32 = (r: WireReader, wireType: number, name: string): number => uint32(r, wireType, name) | 0;

function string(r: WireReader, wireType: number, name: string): string {
  r.expect(wireType, WireType.Bytes, name);
  return r.string();
}

function bytes(r: WireReader, wireType: number, name: string): Buffer {
  r.expect(wireType, WireType.Bytes, name);
  return r.bytesCopy();
}

/**
 * A node's data, kept by the tree for long: small data as a view of the entry, which the tree copies
 * into its slabs; larger data a view only where that pins little (bytesKept).
 */
function nodeData(r: WireReader, wireType: number, name: string): Buffer {
  r.expect(wireType, WireType.Bytes, name);
  return r.bytesKept(DATA_COPIED_MAX_BYTES);
}

const kindName = (kind: number): NodeKind => (NODE_KINDS[kind] ?? kind) as NodeKind; // unknown: the number, as protobufjs

function readCreate(r: WireReader): CreateRequest {
  const c: CreateRequest = { path: '', data: EMPTY, kind: 'PERSISTENT', ttlMs: 0, leaseId: 0, withStat: false };
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const wireType = t & 7;
    if (field === 1) c.path = string(r, wireType, 'create.path');
    else if (field === 2) c.data = nodeData(r, wireType, 'create.data');
    else if (field === 3) c.kind = kindName(varint(r, wireType, 'create.kind'));
    else if (field === 4) c.ttlMs = varint(r, wireType, 'create.ttl_ms');
    else if (field === 5) c.leaseId = varint(r, wireType, 'create.lease_id');
    else if (field === 6) c.withStat = varint(r, wireType, 'create.with_stat') !== 0;
    else r.skip(wireType);
  }
  return c;
}

/** DeleteRequest and CheckRequest: a path and a version. */
function readPathVersion(r: WireReader, name: string): { path: string; version: number } {
  const p = { path: '', version: 0 };
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const wireType = t & 7;
    if (field === 1) p.path = string(r, wireType, `${name}.path`);
    else if (field === 2) p.version = int32(r, wireType, `${name}.version`);
    else r.skip(wireType);
  }
  return p;
}

function readSetData(r: WireReader): { path: string; data: Buffer; version: number } {
  const s = { path: '', data: EMPTY, version: 0 };
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const wireType = t & 7;
    if (field === 1) s.path = string(r, wireType, 'set_data.path');
    else if (field === 2) s.data = nodeData(r, wireType, 'set_data.data');
    else if (field === 3) s.version = int32(r, wireType, 'set_data.version');
    else r.skip(wireType);
  }
  return s;
}

function readOp(r: WireReader): Op {
  let op: Op = {};
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const wireType = t & 7;
    // A oneof: the last member present wins.
    if (field === 1) op = { create: readCreate(r.message(wireType)), op: 'create' };
    else if (field === 2) op = { delete: readPathVersion(r.message(wireType), 'delete'), op: 'delete' };
    else if (field === 3) op = { setData: readSetData(r.message(wireType)), op: 'setData' };
    else if (field === 4) op = { check: readPathVersion(r.message(wireType), 'check'), op: 'check' };
    else r.skip(wireType);
  }
  return op;
}

type TxnOp = Pick<Txn, 'create' | 'delete' | 'setData' | 'multi' | 'createSession' | 'closeSession' | 'moveSession' | 'reap' | 'op'>;

/** The op in field `field` (10-17) of a Txn. */
function readTxnOp(r: WireReader, field: number): TxnOp {
  switch (field) {
    case 10:
      return { create: readCreate(r), op: 'create' };
    case 11:
      return { delete: readPathVersion(r, 'delete'), op: 'delete' };
    case 12:
      return { setData: readSetData(r), op: 'setData' };
    case 13: {
      const ops: Op[] = [];
      while (!r.done) {
        const t = r.varint();
        const f = t >>> 3;
        const wireType = t & 7;
        if (f === 1) ops.push(readOp(r.message(wireType)));
        else r.skip(wireType);
      }
      return { multi: { ops }, op: 'multi' };
    }
    case 14: {
      const s = { timeoutMs: 0, secret: EMPTY, lease: false };
      while (!r.done) {
        const t = r.varint();
        const f = t >>> 3;
        const wireType = t & 7;
        if (f === 1) s.timeoutMs = uint32(r, wireType, 'create_session.timeout_ms');
        else if (f === 2) s.secret = bytes(r, wireType, 'create_session.secret');
        else if (f === 3) s.lease = varint(r, wireType, 'create_session.lease') !== 0;
        else r.skip(wireType);
      }
      return { createSession: s, op: 'createSession' };
    }
    case 15: {
      const s = { sessionId: 0, expired: false };
      while (!r.done) {
        const t = r.varint();
        const f = t >>> 3;
        const wireType = t & 7;
        if (f === 1) s.sessionId = varint(r, wireType, 'close_session.session_id');
        else if (f === 2) s.expired = varint(r, wireType, 'close_session.expired') !== 0;
        else r.skip(wireType);
      }
      return { closeSession: s, op: 'closeSession' };
    }
    case 16: {
      const s = { sessionId: 0, secret: EMPTY };
      while (!r.done) {
        const t = r.varint();
        const f = t >>> 3;
        const wireType = t & 7;
        if (f === 1) s.sessionId = varint(r, wireType, 'move_session.session_id');
        else if (f === 2) s.secret = bytes(r, wireType, 'move_session.secret');
        else r.skip(wireType);
      }
      return { moveSession: s, op: 'moveSession' };
    }
    case 17: {
      const s = { path: '', mzxid: 0, pzxid: 0 };
      while (!r.done) {
        const t = r.varint();
        const f = t >>> 3;
        const wireType = t & 7;
        if (f === 1) s.path = string(r, wireType, 'reap.path');
        else if (f === 2) s.mzxid = varint(r, wireType, 'reap.mzxid');
        else if (f === 3) s.pzxid = varint(r, wireType, 'reap.pzxid');
        else r.skip(wireType);
      }
      return { reap: s, op: 'reap' };
    }
    default:
      throw malformed(`field ${field} is not an op`);
  }
}

/** Decodes an encoded Txn (stampTime's appended time_ms included: the last occurrence wins). */
export function decodeTxn(input: Uint8Array): Txn {
  const r = new WireReader(input, 0, input.length, malformed);
  let origin = 0;
  let originSeq = 0;
  let sessionId = 0;
  let timeMs = 0;
  let op: TxnOp = {};
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const wireType = t & 7;
    if (field === 1) origin = uint32(r, wireType, 'origin');
    else if (field === 2) originSeq = varint(r, wireType, 'origin_seq');
    else if (field === 3) sessionId = varint(r, wireType, 'session_id');
    else if (field === 4) timeMs = varint(r, wireType, 'time_ms');
    else if (field >= 10 && field <= 17) op = readTxnOp(r.message(wireType), field);
    else r.skip(wireType);
  }
  return { origin, originSeq, sessionId, timeMs, ...op };
}
