/**
 * The Session method's request deserializer: a SessionUp decoded by hand when every request in it
 * is one of those every session and every read and write sends (connect without watches to
 * restore, ping, create, delete, exists, getData, setData, getChildren, sync, close), into the
 * objects proto-loader makes (every field present, enums as names, `op` naming the one set, bytes
 * as views into the message); anything else (a multi, watches, an unknown field, malformed bytes)
 * goes to proto-loader's deserializer, which decides as it did before.
 *
 * Why: proto-loader decodes into protobufjs message objects, then copies them into plain ones
 * (toObject): two objects per request and per operation where this makes one, on every request a
 * member receives. `session-up.test.ts` checks the objects against proto-loader's for random
 * requests.
 */
import type { SessionUp__Output as SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import type { SessionRequest__Output as SessionRequest } from '@conclave/proto/gen/conclave/v1/SessionRequest.js';
import { WireReader, WireType } from '@conclave/proto/wire';
import { NODE_KINDS } from '../tree/tree.js';

/** Thrown inside the hand decoder only: the message goes to the generic one. */
class NotHandled extends Error {}
const notHandled = (reason: string) => new NotHandled(reason);

const EMPTY: Buffer = Buffer.alloc(0);
const reader = new WireReader(EMPTY, 0, 0, notHandled);

/** SessionRequest's op fields decoded here, by field number. */
const enum Op {
  Connect = 2,
  Ping = 3,
  Create = 4,
  Delete = 5,
  Exists = 6,
  GetData = 7,
  SetData = 8,
  GetChildren = 9,
  Sync = 12,
  Close = 18,
}
const ID = 1;
const LINEARIZABLE = 19;

function varint(r: WireReader, wireType: number): number {
  if (wireType !== WireType.Varint) throw notHandled('wire type');
  return r.varint();
}
const int32 = (r: WireReader, wireType: number): number => (varint(r, wireType) % 0x1_0000_0000) | 0;
const uint32 = (r: WireReader, wireType: number): number => (wireType === WireType.Varint ? r.uint32() : varint(r, wireType));
const bool = (r: WireReader, wireType: number): boolean => varint(r, wireType) !== 0;

function string(r: WireReader, wireType: number): string {
  if (wireType !== WireType.Bytes) throw notHandled('wire type');
  return r.string();
}

function bytes(r: WireReader, wireType: number): Buffer {
  if (wireType !== WireType.Bytes) throw notHandled('wire type');
  return r.bytesView() as Buffer;
}

/** Reads the fields of the message `r` is in, handing each (field, wire type) to `read`; unknown ones skipped. */
function fields(r: WireReader, read: (field: number, wireType: number) => boolean): void {
  while (!r.done) {
    const t = r.varint();
    if (!read(t >>> 3, t & 7)) r.skip(t & 7);
  }
}

function readOp(r: WireReader, field: number): object {
  switch (field) {
    case Op.Connect: {
      const c = { sessionId: 0, secret: EMPTY, timeoutMs: 0, lastZxid: 0, watches: null };
      fields(r, (f, w) => {
        if (f === 1) c.sessionId = varint(r, w);
        else if (f === 2) c.secret = bytes(r, w);
        else if (f === 3) c.timeoutMs = uint32(r, w);
        else if (f === 4) c.lastZxid = varint(r, w);
        // Watches to restore (a session moving to this member): proto-loader's business.
        else if (f === 5) throw notHandled('watches');
        else return false;
        return true;
      });
      return c;
    }
    case Op.Create: {
      const c = { path: '', data: EMPTY, kind: 'PERSISTENT' as string | number, ttlMs: 0, leaseId: 0, withStat: false };
      fields(r, (f, w) => {
        if (f === 1) c.path = string(r, w);
        else if (f === 2) c.data = bytes(r, w);
        else if (f === 3) {
          const kind = varint(r, w);
          c.kind = NODE_KINDS[kind] ?? kind; // unknown: the number, as protobufjs
        } else if (f === 4) c.ttlMs = varint(r, w);
        else if (f === 5) c.leaseId = varint(r, w);
        else if (f === 6) c.withStat = bool(r, w);
        else return false;
        return true;
      });
      return c;
    }
    case Op.Delete: {
      const d = { path: '', version: 0 };
      fields(r, (f, w) => (f === 1 ? ((d.path = string(r, w)), true) : f === 2 ? ((d.version = int32(r, w)), true) : false));
      return d;
    }
    case Op.Exists:
    case Op.GetData: {
      const g = { path: '', watch: false };
      fields(r, (f, w) => (f === 1 ? ((g.path = string(r, w)), true) : f === 2 ? ((g.watch = bool(r, w)), true) : false));
      return g;
    }
    case Op.SetData: {
      const s = { path: '', data: EMPTY, version: 0 };
      fields(r, (f, w) => {
        if (f === 1) s.path = string(r, w);
        else if (f === 2) s.data = bytes(r, w);
        else if (f === 3) s.version = int32(r, w);
        else return false;
        return true;
      });
      return s;
    }
    case Op.GetChildren: {
      const g = { path: '', watch: false, withStat: false };
      fields(r, (f, w) => {
        if (f === 1) g.path = string(r, w);
        else if (f === 2) g.watch = bool(r, w);
        else if (f === 3) g.withStat = bool(r, w);
        else return false;
        return true;
      });
      return g;
    }
    case Op.Sync: {
      const s = { path: '' };
      fields(r, (f, w) => (f === 1 ? ((s.path = string(r, w)), true) : false));
      return s;
    }
    default: // Ping, Close: empty messages
      fields(r, () => false);
      return {};
  }
}

const OP_NAMES: Partial<Record<number, string>> = {
  [Op.Connect]: 'connect',
  [Op.Ping]: 'ping',
  [Op.Create]: 'create',
  [Op.Delete]: 'delete',
  [Op.Exists]: 'exists',
  [Op.GetData]: 'getData',
  [Op.SetData]: 'setData',
  [Op.GetChildren]: 'getChildren',
  [Op.Sync]: 'sync',
  [Op.Close]: 'close',
};

function readRequest(r: WireReader): SessionRequest {
  let id = 0;
  let linearizable = false;
  let op: string | undefined;
  let body: object | undefined;
  while (!r.done) {
    const t = r.varint();
    const field = t >>> 3;
    const wireType = t & 7;
    if (field === ID) id = varint(r, wireType);
    else if (field === LINEARIZABLE) linearizable = bool(r, wireType);
    else {
      const name = OP_NAMES[field];
      // Another op, an unknown field, or a second op in one request: proto-loader's business.
      if (name === undefined || op !== undefined) throw notHandled(`field ${field}`);
      const outer = r.enter(wireType);
      body = readOp(r, field);
      r.leave(outer);
      op = name;
    }
  }
  if (op === undefined) throw notHandled('no op');
  return { id, linearizable, [op]: body, op } as SessionRequest;
}

function decodeByHand(message: Buffer): SessionUp {
  const r = reader;
  r.reset(message, 0, message.length);
  const requests: SessionRequest[] = [];
  while (!r.done) {
    const t = r.varint();
    if (t >>> 3 !== 1) throw notHandled('not a request');
    const outer = r.enter(t & 7);
    requests.push(readRequest(r));
    r.leave(outer);
  }
  return { requests };
}

/** The Session method's deserializer: by hand, or by `generic` (proto-loader's) for what it leaves. */
export function sessionUpDeserializer(generic: (message: Buffer) => SessionUp): (message: Buffer) => SessionUp {
  return (message) => {
    try {
      return decodeByHand(message);
    } catch (error) {
      if (!(error instanceof NotHandled)) throw error;
      return generic(message);
    }
  };
}
