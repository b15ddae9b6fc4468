/**
 * The Session method's response serializer: one SessionDown from a stream's responses, written by
 * hand for the responses every session and every read and write gets (connect, ping, create,
 * delete, exists, getData, setData, getChildren, sync, a bare error), through protobufjs for the
 * rest (multi, multiRead, watches, ...), and copied as they are for items already encoded (a watch event,
 * encoded once for all its sessions).
 *
 * Why by hand: protobufjs's path copied each response into a message object (`fromObject`) and
 * queued an operation object per field before writing (its Writer), about a kilobyte of garbage
 * per response, and its encoders were 22-26% of a member's busy time under reads (profiles of the
 * benchmark's 100% reads). Here a batch is measured (sizes kept per item), then written into one
 * buffer reused from call to call: gRPC copies the message behind its frame header before it
 * returns (grpc-js `serializeMessage`), so what this returns is valid until its next call only.
 * Values are encoded as proto3 does (zeros, empty strings and bytes left out; a oneof result
 * always present, if empty); `session-down.test.ts` decodes random responses with protobufjs.
 */
import { codec, enumValues } from '@conclave/proto';
import type { SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { Stat } from '../tree/tree.js';
import type { toWireError } from './status.js';
import { varintFieldSize, varintSize, WireWriter } from '@conclave/proto/wire';

/** What a session stream writes: responses as objects, or already encoded. */
export type SessionDownParts = ReadonlyArray<SessionResponse | Uint8Array>;

const protobufjs = codec<SessionResponse, unknown>('conclave.v1.SessionResponse');
const ERROR_CODES = enumValues('conclave.v1.ErrorCode');

/** An item's encoding through protobufjs (a watch event's, once for all its sessions). */
export const encodeSessionResponse = (response: SessionResponse): Uint8Array => protobufjs.encode(response);

/** An error as the session stream sends it (status.ts). */
type ErrorFields = ReturnType<typeof toWireError>;

/** The responses written by hand, as the session stream makes them. */
interface HandResponse {
  id?: number;
  zxid?: number;
  error?: ErrorFields | null;
  connect?: { sessionId: number; secret: Uint8Array; timeoutMs: number; memberId: number } | null;
  ping?: object | null;
  create?: { path: string; stat?: Stat | null } | null;
  delete?: object | null;
  exists?: { stat?: Stat | null } | null;
  getData?: { data: Uint8Array; stat?: Stat | null } | null;
  setData?: { stat?: Stat | null } | null;
  getChildren?: { children: string[]; stat?: Stat | null } | null;
  sync?: { path: string } | null;
}

/** Every field a hand-written response may carry. */
const HAND_FIELDS = new Set(['id', 'zxid', 'error', 'connect', 'ping', 'create', 'delete', 'exists', 'getData', 'setData', 'getChildren', 'sync']);

const enum Field {
  Id = 1,
  Zxid = 2,
  Error = 3,
  Connect = 4,
  Ping = 5,
  Create = 6,
  Delete = 7,
  Exists = 8,
  GetData = 9,
  SetData = 10,
  GetChildren = 11,
  Sync = 14,
}

const ITEMS_FIELD = 1;
const present = <T>(value: T | null | undefined): value is T => value !== undefined && value !== null;
const utf8Length = (value: string): number => (value.length === 0 ? 0 : Buffer.byteLength(value, 'utf8'));
const stringFieldSize = (byteLength: number): number => (byteLength === 0 ? 0 : 1 + varintSize(byteLength) + byteLength);
const messageSize = (length: number): number => 1 + varintSize(length) + length;

function statSize(s: Stat): number {
  return varintFieldSize(s.czxid) + varintFieldSize(s.mzxid) + varintFieldSize(s.pzxid) + varintFieldSize(s.ctime) +
    varintFieldSize(s.mtime) + varintFieldSize(s.version) + varintFieldSize(s.cversion) + varintFieldSize(s.aversion) +
    varintFieldSize(s.ephemeralOwner) + varintFieldSize(s.dataLength) + varintFieldSize(s.numChildren);
}

function writeStat(w: WireWriter, field: number, s: Stat, size: number): void {
  w.header(field, size);
  w.varint(1, s.czxid);
  w.varint(2, s.mzxid);
  w.varint(3, s.pzxid);
  w.varint(4, s.ctime);
  w.varint(5, s.mtime);
  w.varint(6, s.version);
  w.varint(7, s.cversion);
  w.varint(8, s.aversion);
  w.varint(9, s.ephemeralOwner);
  w.varint(10, s.dataLength);
  w.varint(11, s.numChildren);
}

const statOf = (s: Stat | null | undefined): number => (present(s) ? statSize(s) : -1);
const errorSize = (e: ErrorFields): number =>
  varintFieldSize(errorCode(e.code)) + stringFieldSize(utf8Length(e.message)) + stringFieldSize(utf8Length(e.path)) + varintFieldSize(e.opIndex);

function errorCode(code: string | number): number {
  if (typeof code === 'number') return code;
  const value = ERROR_CODES[code];
  if (value === undefined) throw new Error(`unknown error code ${code}`);
  return value;
}

/**
 * Measures, then writes, a batch. Per item it keeps what the write needs and the measure found:
 * the item's size, its result's size (-1: none), its stat's (-1: none) and its path's UTF-8
 * length; the names of a getChildren are measured into `names`.
 */
class SessionDownWriter {
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** per item: [item size, result size, stat size, path byte length] */
  private sizes: number[] = [];
  /** per item: its protobufjs encoding, for items not written by hand */
  private encoded: (Uint8Array | undefined)[] = [];
  /** UTF-8 lengths of getChildren names, in order over the batch */
  private names: number[] = [];

  serialize(parts: SessionDownParts): Buffer {
    let total = 0;
    this.names.length = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      let size: number;
      if (part instanceof Uint8Array) {
        this.encoded[i] = part;
        size = part.length;
      } else if (isHand(part)) {
        this.encoded[i] = undefined;
        size = this.measure(part as HandResponse, i);
      } else {
        const bytes = protobufjs.encode(part);
        this.encoded[i] = bytes;
        size = bytes.length;
      }
      this.sizes[i * 4] = size;
      total += messageSize(size);
    }
    if (this.scratch.length < total) this.scratch = Buffer.allocUnsafeSlow(Math.max(total, this.scratch.length * 2));
    const w = new WireWriter(this.scratch);
    let name = 0;
    for (let i = 0; i < parts.length; i++) {
      const size = this.sizes[i * 4]!;
      const bytes = this.encoded[i];
      if (bytes !== undefined) {
        w.bytes(ITEMS_FIELD, bytes);
        this.encoded[i] = undefined; // not kept past this call
        continue;
      }
      w.header(ITEMS_FIELD, size);
      name = this.write(w, parts[i] as HandResponse, i, name);
    }
    return this.scratch.subarray(0, w.at);
  }

  private measure(r: HandResponse, i: number): number {
    let size = varintFieldSize(r.id ?? 0) + varintFieldSize(r.zxid ?? 0);
    if (present(r.error)) size += messageSize(errorSize(r.error));
    let stat = -1;
    let text = 0;
    let result = -1;
    if (present(r.connect)) {
      const c = r.connect;
      const secret = c.secret.length;
      result = varintFieldSize(c.sessionId) + (secret === 0 ? 0 : messageSize(secret)) + varintFieldSize(c.timeoutMs) + varintFieldSize(c.memberId);
    } else if (present(r.create)) {
      stat = statOf(r.create.stat);
      text = utf8Length(r.create.path);
      result = stringFieldSize(text);
    } else if (present(r.exists)) {
      stat = statOf(r.exists.stat);
      result = 0;
    } else if (present(r.getData)) {
      stat = statOf(r.getData.stat);
      const n = r.getData.data.length;
      result = n === 0 ? 0 : messageSize(n);
    } else if (present(r.setData)) {
      stat = statOf(r.setData.stat);
      result = 0;
    } else if (present(r.getChildren)) {
      stat = statOf(r.getChildren.stat);
      result = 0;
      for (const child of r.getChildren.children) {
        const n = utf8Length(child);
        this.names.push(n);
        result += messageSize(n);
      }
    } else if (present(r.sync)) {
      text = utf8Length(r.sync.path);
      result = stringFieldSize(text);
    } else if (present(r.ping) || present(r.delete)) {
      result = 0;
    }
    if (stat >= 0) result += messageSize(stat);
    if (result >= 0) size += messageSize(result);
    this.sizes[i * 4 + 1] = result;
    this.sizes[i * 4 + 2] = stat;
    this.sizes[i * 4 + 3] = text;
    return size;
  }

  private write(w: WireWriter, r: HandResponse, i: number, name: number): number {
    w.varint(Field.Id, r.id ?? 0);
    w.varint(Field.Zxid, r.zxid ?? 0);
    if (present(r.error)) {
      // Measured again (errors are rare and short) rather than kept per item.
      const e = r.error;
      w.header(Field.Error, errorSize(e));
      w.varint(1, errorCode(e.code));
      w.string(2, e.message, utf8Length(e.message));
      w.string(3, e.path, utf8Length(e.path));
      w.varint(4, e.opIndex);
    }
    const result = this.sizes[i * 4 + 1]!;
    if (result < 0) return name;
    const statBytes = this.sizes[i * 4 + 2]!;
    const text = this.sizes[i * 4 + 3]!;
    if (present(r.connect)) {
      const c = r.connect;
      w.header(Field.Connect, result);
      w.varint(1, c.sessionId);
      w.optionalBytes(2, c.secret);
      w.varint(3, c.timeoutMs);
      w.varint(4, c.memberId);
    } else if (present(r.create)) {
      w.header(Field.Create, result);
      w.string(1, r.create.path, text);
      if (present(r.create.stat)) writeStat(w, 2, r.create.stat, statBytes);
    } else if (present(r.exists)) {
      w.header(Field.Exists, result);
      if (present(r.exists.stat)) writeStat(w, 1, r.exists.stat, statBytes);
    } else if (present(r.getData)) {
      w.header(Field.GetData, result);
      w.optionalBytes(1, r.getData.data);
      if (present(r.getData.stat)) writeStat(w, 2, r.getData.stat, statBytes);
    } else if (present(r.setData)) {
      w.header(Field.SetData, result);
      if (present(r.setData.stat)) writeStat(w, 1, r.setData.stat, statBytes);
    } else if (present(r.getChildren)) {
      w.header(Field.GetChildren, result);
      for (const child of r.getChildren.children) {
        const n = this.names[name++]!;
        w.header(1, n);
        if (n > 0) w.at += w.buf.write(child, w.at, n, 'utf8');
      }
      if (present(r.getChildren.stat)) writeStat(w, 2, r.getChildren.stat, statBytes);
    } else if (present(r.sync)) {
      w.header(Field.Sync, result);
      w.string(1, r.sync.path, text);
    } else if (present(r.ping)) {
      w.header(Field.Ping, 0);
    } else {
      w.header(Field.Delete, 0);
    }
    return name;
  }
}

function isHand(response: object): boolean {
  for (const key in response) {
    if (!HAND_FIELDS.has(key) && (response as Record<string, unknown>)[key] !== undefined && (response as Record<string, unknown>)[key] !== null) return false;
  }
  return true;
}

const writer = new SessionDownWriter();

/** The SessionDown of `parts`, valid until the next call (gRPC copies it at once). */
export const serializeSessionDown = (parts: SessionDownParts): Buffer => writer.serialize(parts);
