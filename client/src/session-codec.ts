/**
 * The Session stream's codec on the client's side: the requests every session and every read and
 * write sends are encoded, and the responses and watch events they get back decoded, by hand; any
 * other message (a multi, watches, a connect restoring watches, ...) goes through proto-loader's
 * serializer and deserializer, as before. The member does the same on its side
 * (server/src/api/session-down.ts, session-up.ts).
 *
 * Why: under the benchmark's reads the members' main threads were busy a quarter of the time, the
 * rest of the machine left to the load generators, which run this client (docs/design.md); and
 * protobufjs's generic path decodes into message objects, then copies them (toObject), and queues
 * an operation object per field it writes. The objects made here have proto-loader's shapes (every field present, enums as
 * names, `result` naming the oneof member, bytes as views into the message);
 * `session-codec.test.ts` checks them against proto-loader's for random messages.
 */
import { enumValues, publicPackageDefinition } from '@conclave/proto';
import { WireReader, WireType, WireWriter, varintFieldSize, varintSize, writeVarint } from '@conclave/proto/wire';
import type { SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import type { SessionDown__Output as SessionDown } from '@conclave/proto/gen/conclave/v1/SessionDown.js';
import type { SessionResponse__Output as SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { Stat__Output as Stat } from '@conclave/proto/gen/conclave/v1/Stat.js';

interface SessionMethod {
  path: string;
  requestSerialize(value: SessionUp): Buffer;
  responseDeserialize(bytes: Buffer): SessionDown;
}
const generic = (publicPackageDefinition()['conclave.v1.Conclave'] as unknown as { Session: SessionMethod }).Session;

/** The Session method's path, for grpc-js's makeBidiStreamRequest. */
export const SESSION_METHOD = generic.path;

const NODE_KINDS = enumValues('conclave.v1.NodeKind');
const ERROR_NAMES = names(enumValues('conclave.v1.ErrorCode'));
const EVENT_NAMES = names(enumValues('conclave.v1.EventType'));

function names(values: Readonly<Record<string, number>>): Map<number, string> {
  return new Map(Object.entries(values).map(([name, value]) => [value, name]));
}

// ------------------------------------------------------------------ requests

/** SessionRequest's op fields encoded here, by the request's `op`. */
const REQUEST_FIELDS = new Map(Object.entries({
  connect: 2, ping: 3, create: 4, delete: 5, exists: 6, getData: 7, setData: 8, getChildren: 9, sync: 12, close: 18,
}));
const LINEARIZABLE_TAG = (19 << 3) | WireType.Varint;

interface OpFields {
  path?: string | null;
  data?: Uint8Array | null;
  kind?: string | number | null;
  ttlMs?: number | null;
  leaseId?: number | null;
  withStat?: boolean | null;
  version?: number | null;
  watch?: boolean | null;
  // connect
  sessionId?: number | null;
  secret?: Uint8Array | null;
  timeoutMs?: number | null;
  lastZxid?: number | null;
  watches?: object | null;
}

const utf8Length = (value: string | null | undefined): number => (value ? Buffer.byteLength(value, 'utf8') : 0);
const stringSize = (n: number): number => (n === 0 ? 0 : 1 + varintSize(n) + n);
const bytesSize = (b: Uint8Array | null | undefined): number => (b && b.length > 0 ? 1 + varintSize(b.length) + b.length : 0);
const num = (value: number | null | undefined): number => value ?? 0;
const flag = (value: boolean | null | undefined): number => (value ? 1 : 0);

function kindNumber(kind: string | number | null | undefined): number | undefined {
  if (kind === undefined || kind === null) return 0;
  return typeof kind === 'number' ? kind : NODE_KINDS[kind];
}

/** The op's encoded size (fields named by `op`, all others ignored), or -1 when it is not encoded here. */
function opSize(op: string, o: OpFields, pathBytes: number): number {
  switch (op) {
    case 'ping':
    case 'close':
      return 0;
    case 'connect':
      // Watches to restore (a session moving to another member): proto-loader's business.
      if (o.watches !== undefined && o.watches !== null) return -1;
      return varintFieldSize(num(o.sessionId)) + bytesSize(o.secret) + varintFieldSize(num(o.timeoutMs)) + varintFieldSize(num(o.lastZxid));
    case 'create': {
      const kind = kindNumber(o.kind);
      if (kind === undefined) return -1;
      return stringSize(pathBytes) + bytesSize(o.data) + varintFieldSize(kind) + varintFieldSize(num(o.ttlMs)) + varintFieldSize(num(o.leaseId)) + varintFieldSize(flag(o.withStat));
    }
    case 'delete':
      return stringSize(pathBytes) + varintFieldSize(int32(o.version));
    case 'exists':
    case 'getData':
      return stringSize(pathBytes) + varintFieldSize(flag(o.watch));
    case 'setData':
      return stringSize(pathBytes) + bytesSize(o.data) + varintFieldSize(int32(o.version));
    case 'getChildren':
      return stringSize(pathBytes) + varintFieldSize(flag(o.watch)) + varintFieldSize(flag(o.withStat));
    case 'sync':
      return stringSize(pathBytes);
    default:
      return -1;
  }
}

/** An int32 as protobuf writes it: negatives as ten-byte varints of their 64-bit value. */
const int32 = (value: number | null | undefined): number => (value ?? 0) | 0;

function writeOp(w: WireWriter, op: string, o: OpFields, pathBytes: number): void {
  if (op === 'ping' || op === 'close') return;
  if (op === 'connect') {
    w.varint(1, num(o.sessionId));
    if (o.secret) w.optionalBytes(2, o.secret);
    w.varint(3, num(o.timeoutMs));
    w.varint(4, num(o.lastZxid));
    return;
  }
  w.string(1, o.path ?? '', pathBytes);
  switch (op) {
    case 'create':
      if (o.data) w.optionalBytes(2, o.data);
      w.varint(3, kindNumber(o.kind)!);
      w.varint(4, num(o.ttlMs));
      w.varint(5, num(o.leaseId));
      w.varint(6, flag(o.withStat));
      return;
    case 'delete':
      w.varint(2, int32(o.version));
      return;
    case 'exists':
    case 'getData':
      w.varint(2, flag(o.watch));
      return;
    case 'setData':
      if (o.data) w.optionalBytes(2, o.data);
      w.varint(3, int32(o.version));
      return;
    case 'getChildren':
      w.varint(2, flag(o.watch));
      w.varint(3, flag(o.withStat));
      return;
    default: // sync: the path only
  }
}

/** Sizes kept between the measure and the write of a message: per request [request, op, path bytes]. */
const sizes: number[] = [];

/** The Session method's request serializer. */
export function serializeSessionUp(up: SessionUp): Buffer {
  const requests = up.requests ?? [];
  let total = 0;
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    const op = r.op;
    const field = op === undefined || op === null ? undefined : REQUEST_FIELDS.get(op);
    const body = field === undefined ? undefined : ((r as Record<string, unknown>)[op!] as OpFields | null | undefined);
    if (field === undefined || body === undefined || body === null) return generic.requestSerialize(up);
    // proto-loader also takes bytes as base64 strings or arrays of numbers: its business.
    if (body.data !== undefined && body.data !== null && !(body.data instanceof Uint8Array)) return generic.requestSerialize(up);
    if (body.secret !== undefined && body.secret !== null && !(body.secret instanceof Uint8Array)) return generic.requestSerialize(up);
    const pathBytes = utf8Length(body.path);
    const inner = opSize(op!, body, pathBytes);
    if (inner < 0) return generic.requestSerialize(up);
    const size = varintFieldSize(num(r.id as number | undefined)) + varintSize((field << 3) | WireType.Bytes) + varintSize(inner) + inner + (r.linearizable ? 3 : 0);
    sizes[i * 3] = size;
    sizes[i * 3 + 1] = inner;
    sizes[i * 3 + 2] = pathBytes;
    total += 1 + varintSize(size) + size;
  }
  const w = new WireWriter(Buffer.allocUnsafe(total));
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    const op = r.op!;
    w.header(1, sizes[i * 3]!);
    w.varint(1, num(r.id as number | undefined));
    w.header(REQUEST_FIELDS.get(op)!, sizes[i * 3 + 1]!);
    writeOp(w, op, (r as Record<string, unknown>)[op] as OpFields, sizes[i * 3 + 2]!);
    if (r.linearizable) {
      w.at = writeVarint(w.buf, w.at, LINEARIZABLE_TAG);
      w.buf[w.at++] = 1;
    }
  }
  return w.buf;
}

// ------------------------------------------------------------------ responses

/** Thrown inside the hand decoder only: the message goes to proto-loader's. */
class NotHandled extends Error {}
const notHandled = (reason: string) => new NotHandled(reason);
const reader = new WireReader(Buffer.alloc(0), 0, 0, notHandled);
const EMPTY = Buffer.alloc(0);

/** SessionResponse's result fields decoded here. */
const RESULT_NAMES: Partial<Record<number, string>> = {
  4: 'connect', 5: 'ping', 6: 'create', 7: 'delete', 8: 'exists', 9: 'getData', 10: 'setData', 11: 'getChildren', 14: 'sync', 20: 'close', 21: 'event',
};

function varint(r: WireReader, wireType: number): number {
  if (wireType !== WireType.Varint) throw notHandled('wire type');
  return r.varint();
}
const int32Of = (r: WireReader, wireType: number): number => (varint(r, wireType) % 0x1_0000_0000) | 0;
const uint32 = (r: WireReader, wireType: number): number => (wireType === WireType.Varint ? r.uint32() : varint(r, wireType));

function string(r: WireReader, wireType: number): string {
  if (wireType !== WireType.Bytes) throw notHandled('wire type');
  return r.string();
}

function readStat(r: WireReader, wireType: number): Stat {
  const outer = r.enter(wireType);
  const s: Stat = { czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 0, numChildren: 0 };
  while (!r.done) {
    const t = r.varint();
    const w = t & 7;
    switch (t >>> 3) {
      case 1: s.czxid = varint(r, w); break;
      case 2: s.mzxid = varint(r, w); break;
      case 3: s.pzxid = varint(r, w); break;
      case 4: s.ctime = varint(r, w); break;
      case 5: s.mtime = varint(r, w); break;
      case 6: s.version = int32Of(r, w); break;
      case 7: s.cversion = int32Of(r, w); break;
      case 8: s.aversion = int32Of(r, w); break;
      case 9: s.ephemeralOwner = varint(r, w); break;
      case 10: s.dataLength = int32Of(r, w); break;
      case 11: s.numChildren = int32Of(r, w); break;
      default: r.skip(w);
    }
  }
  r.leave(outer);
  return s;
}

/** The result message of field `field` (r narrowed to it). */
function readResult(r: WireReader, field: number): object {
  let path = '';
  let stat: Stat | null = null;
  let data: Buffer = EMPTY;
  let children: string[] | undefined;
  let type: string | number = EVENT_NAMES.get(0) ?? 0;
  let zxid = 0;
  let connect: { sessionId: number; secret: Buffer; timeoutMs: number; memberId: number } | undefined;
  while (!r.done) {
    const t = r.varint();
    const f = t >>> 3;
    const w = t & 7;
    switch (field) {
      case 4: // connect: sessionId, secret, timeoutMs, memberId
        connect ??= { sessionId: 0, secret: EMPTY, timeoutMs: 0, memberId: 0 };
        if (f === 1) connect.sessionId = varint(r, w);
        else if (f === 2) {
          if (w !== WireType.Bytes) throw notHandled('wire type');
          connect.secret = r.bytesView() as Buffer;
        } else if (f === 3) connect.timeoutMs = uint32(r, w);
        else if (f === 4) connect.memberId = uint32(r, w);
        else r.skip(w);
        break;
      case 6: // create: path, stat
        if (f === 1) path = string(r, w);
        else if (f === 2) stat = readStat(r, w);
        else r.skip(w);
        break;
      case 8: // exists: stat
      case 10: // setData: stat
        if (f === 1) stat = readStat(r, w);
        else r.skip(w);
        break;
      case 9: // getData: data, stat
        if (f === 1) {
          if (w !== WireType.Bytes) throw notHandled('wire type');
          data = r.bytesView() as Buffer;
        } else if (f === 2) stat = readStat(r, w);
        else r.skip(w);
        break;
      case 11: // getChildren: children, stat
        if (f === 1) (children ??= []).push(string(r, w));
        else if (f === 2) stat = readStat(r, w);
        else r.skip(w);
        break;
      case 14: // sync: path
        if (f === 1) path = string(r, w);
        else r.skip(w);
        break;
      case 21: // event: type, path, zxid
        if (f === 1) {
          const value = varint(r, w);
          type = EVENT_NAMES.get(value) ?? value;
        } else if (f === 2) path = string(r, w);
        else if (f === 3) zxid = varint(r, w);
        else r.skip(w);
        break;
      default: // ping, delete, close: empty
        r.skip(w);
    }
  }
  switch (field) {
    case 4: return connect ?? { sessionId: 0, secret: EMPTY, timeoutMs: 0, memberId: 0 };
    case 6: return { path, stat };
    case 8: case 10: return { stat };
    case 9: return { data, stat };
    case 11: return { children: children ?? [], stat };
    case 14: return { path };
    case 21: return { type, path, zxid };
    default: return {};
  }
}

function readError(r: WireReader, wireType: number): NonNullable<SessionResponse['error']> {
  const outer = r.enter(wireType);
  const e = { code: ERROR_NAMES.get(0) ?? 0, message: '', path: '', opIndex: 0 } as { code: string | number; message: string; path: string; opIndex: number };
  while (!r.done) {
    const t = r.varint();
    const f = t >>> 3;
    const w = t & 7;
    if (f === 1) {
      const value = varint(r, w);
      e.code = ERROR_NAMES.get(value) ?? value;
    } else if (f === 2) e.message = string(r, w);
    else if (f === 3) e.path = string(r, w);
    else if (f === 4) e.opIndex = int32Of(r, w);
    else r.skip(w);
  }
  r.leave(outer);
  return e as NonNullable<SessionResponse['error']>;
}

function readResponse(r: WireReader): SessionResponse {
  let id = 0;
  let zxid = 0;
  let error: SessionResponse['error'] = null;
  let name: string | undefined;
  let result: object | undefined;
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const w = t & 7;
    if (field === 1) id = varint(r, w);
    else if (field === 2) zxid = varint(r, w);
    else if (field === 3) error = readError(r, w);
    else {
      const member = RESULT_NAMES[field];
      // Another result, an unknown field, or a second result: proto-loader's business.
      if (member === undefined || name !== undefined) throw notHandled(`field ${field}`);
      const outer = r.enter(w);
      result = readResult(r, field);
      r.leave(outer);
      name = member;
    }
  }
  if (name === undefined) return { id, zxid, error } as SessionResponse;
  return { id, zxid, error, [name]: result, result: name } as SessionResponse;
}

/** The Session method's response deserializer. */
export function deserializeSessionDown(message: Buffer): SessionDown {
  try {
    const r = reader;
    r.reset(message, 0, message.length);
    const responses: SessionResponse[] = [];
    while (!r.done) {
      const t = r.varint();
      if (t >>> 3 !== 1) throw notHandled('not a response');
      const outer = r.enter(t & 7);
      responses.push(readResponse(r));
      r.leave(outer);
    }
    return { responses };
  } catch (error) {
    if (!(error instanceof NotHandled)) throw error;
    return generic.responseDeserialize(message);
  }
}
