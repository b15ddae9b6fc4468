/**
 * A protocol fuzzer for a running Conclave member.
 *
 * - Requests: every method of every client service (Conclave, Leases, Cluster) is enumerated from
 *   the .proto files (protobufjs reflection), and fast-check builds request messages with malformed
 *   values in every field: bad, huge and control-character paths, oversized data, negative, huge and
 *   beyond-2^53 numbers, unknown enum numbers, empty and giant repeated fields (a multi of 20,000
 *   ops), several members of a oneof at once. They are encoded by hand and sent with identity
 *   serializers, so nothing on the client side cleans them up.
 * - Session streams: random batches of session requests, before and after a valid connect.
 * - The peer port: well-framed and malformed peer frames (server/src/transport/wire.ts, rebuilt here
 *   from its description): batches of another cluster, random bytes as a batch, snapshot offers and
 *   data out of order, unknown kinds, lengths over the limit.
 * - Garbage bytes on the client, peer and metrics ports: random bytes, a truncated HTTP/2 preface,
 *   HTTP/1 requests with odd methods, paths and headers, a TLS ClientHello.
 *
 * What the member must do: answer every request with a typed error (a gRPC status carrying the
 * `conclave-error` code) or success, or (for bytes that are not even gRPC) close the connection;
 * never crash, never hang, and keep its memory bounded. A few statuses come from the gRPC library
 * before Conclave sees the call (a message over the size limit, a body that is not the declared
 * protobuf message): those are counted as "transport" answers, not failures.
 */
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { PROTO_DIR, PUBLIC_PROTO, RAFT_PROTO } from '@conclave/proto';

export interface Method {
  service: string;
  name: string;
  /** /package.Service/Method */
  path: string;
  request: protobuf.Type;
  response: protobuf.Type;
  requestStream: boolean;
  responseStream: boolean;
}

let root: protobuf.Root | undefined;
export function protoRoot(): protobuf.Root {
  if (!root) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
    root.loadSync([PUBLIC_PROTO, RAFT_PROTO], { keepCase: false });
    root.resolveAll();
  }
  return root;
}

/** Every method of the services a client reaches. */
export function methods(pkg: 'conclave.v1'): Method[] {
  const ns = protoRoot().lookup(pkg) as protobuf.Namespace;
  const out: Method[] = [];
  for (const nested of ns.nestedArray) {
    if (!(nested instanceof protobuf.Service)) continue;
    for (const m of nested.methodsArray) {
      m.resolve();
      out.push({
        service: nested.name,
        name: m.name,
        path: `/${pkg}.${nested.name}/${m.name}`,
        request: m.resolvedRequestType!,
        response: m.resolvedResponseType!,
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- values

const EDGE_STRINGS = [
  '', '/', '//', '/a/', '/a//b', 'relative', '/.', '/..', '/a/./b', '/a/../b', '/a\u0000b', '/a\u0001', '/\u007f', '/a\nb',
  '/conclave', '/conclave/x', '/zookeeper', ' ', '/ ', '/😀', '/\ud800', '/a'.repeat(3000), 'x'.repeat(70_000),
  '/' + 'y'.repeat(4095), '/' + 'y'.repeat(4096), '%', '/a/%s%n', '\\', '/a?b#c',
];
const EDGE_LONGS = ['0', '1', '-1', '2', '4294967295', '4294967296', String(2 ** 53 - 1), String(2 ** 53), '9007199254740993', '9223372036854775807', '-9223372036854775808', '18446744073709551615'];
const EDGE_INT32 = [0, 1, -1, -2, 2 ** 31 - 1, -(2 ** 31), 1000, 1001, 65535, 65536];
const EDGE_UINT32 = [0, 1, 2 ** 32 - 1, 65535, 65536, 1000, 1001];
const BIG_SIZES = [1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024, 4 * 1024 * 1024 + 100 * 1024];

const pathLike = fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('.', '..', '', 'conclave')), { maxLength: 5 }).map((s) => '/' + s.join('/'));
const stringArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
  { weight: 3, arbitrary: pathLike },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);
const smallBytesArb = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const bytesArb = fc.oneof(
  { weight: 8, arbitrary: smallBytesArb },
  { weight: 1, arbitrary: fc.constantFrom(...BIG_SIZES).map((n) => Buffer.alloc(n, 0x61)) },
);

function scalarArb(type: string, small: boolean): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      return small ? fc.constantFrom('/a', '', '/x/y') : stringArb;
    case 'bytes':
      return small ? smallBytesArb : bytesArb;
    case 'bool':
      return fc.boolean();
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return fc.oneof(fc.constantFrom(...EDGE_INT32), fc.integer());
    case 'uint32':
    case 'fixed32':
      return fc.oneof(fc.constantFrom(...EDGE_UINT32), fc.nat({ max: 2 ** 32 - 1 }));
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      return fc.oneof(fc.constantFrom(...EDGE_LONGS), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String), fc.nat().map(String));
    case 'double':
    case 'float':
      return fc.double();
    default:
      throw new Error(`no generator for ${type}`);
  }
}

/** `small`: for the elements of giant lists (no big data, no nested giant lists). */
function fieldArb(field: protobuf.Field, depth: number, small: boolean): fc.Arbitrary<unknown> {
  const resolved = field.resolvedType;
  const element = (smallElement: boolean): fc.Arbitrary<unknown> => {
    if (resolved instanceof protobuf.Enum) return fc.oneof(fc.constantFrom(...Object.values(resolved.values)), fc.integer({ min: -3, max: 60 }));
    if (resolved instanceof protobuf.Type) return depth >= 3 ? fc.constant({}) : messageArb(resolved, depth + 1, smallElement);
    return scalarArb(field.type, smallElement);
  };
  if (!field.repeated) return element(small);
  if (small || depth > 0) return fc.array(element(true), { maxLength: 3 });
  return fc.oneof(
    { weight: 12, arbitrary: fc.array(element(false), { maxLength: 4 }) },
    // Giant lists of small elements, top level only: a multi over the op limit, thousands of watches.
    { weight: 1, arbitrary: fc.tuple(element(true), fc.constantFrom(1001, 20_000)).map(([e, n]) => Array.from({ length: n }, () => e)) },
  );
}

const messageArbs = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** Messages of `type` with any subset of fields set, each to a malformed or plausible value. */
export function messageArb(type: protobuf.Type, depth = 0, small = false): fc.Arbitrary<Record<string, unknown>> {
  const key = `${type.fullName}@${depth}${small ? 's' : ''}`;
  let arb = messageArbs.get(key);
  if (arb === undefined) {
    const fields: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of type.fieldsArray) fields[f.name] = fieldArb(f, depth, small);
    arb = fc.record(fields, { requiredKeys: [] });
    messageArbs.set(key, arb);
  }
  return arb;
}

export function encode(type: protobuf.Type, value: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

// ---------------------------------------------------------------- calls

export type Answer =
  | { kind: 'ok' }
  /** a gRPC status with the Conclave error code */
  | { kind: 'typed'; code: string; message: string }
  /** a status from the gRPC library itself, before Conclave saw the call */
  | { kind: 'transport'; status: number; details: string }
  /** anything else: a failure */
  | { kind: 'untyped'; status: number; details: string }
  | { kind: 'hang' };

const identity = (b: Buffer) => b;

/** Statuses grpc-js gives on its own: a message over the size limit, a body that does not decode. */
function transportStatus(error: grpc.ServiceError): boolean {
  if (error.code === grpc.status.RESOURCE_EXHAUSTED && /message larger than max|Received message larger/i.test(error.details)) return true;
  if (error.code === grpc.status.INTERNAL && /deserializ|parse/i.test(error.details)) return true;
  return error.code === grpc.status.CANCELLED || error.code === grpc.status.DEADLINE_EXCEEDED;
}

export function classify(error: grpc.ServiceError | null): Answer {
  if (error === null) return { kind: 'ok' };
  const code = error.metadata?.get('conclave-error')[0];
  if (typeof code === 'string') return { kind: 'typed', code, message: error.details };
  if (transportStatus(error)) return { kind: 'transport', status: error.code, details: error.details };
  return { kind: 'untyped', status: error.code, details: error.details };
}

/** Calls one method with raw request bytes (several messages for a client stream); resolves with how it was answered. */
export function call(client: grpc.Client, method: Method, messages: Buffer[], timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    const finish = (answer: Answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(answer);
    };
    // A stream that neither errs nor ends within the deadline (watch streams do that): cancel it.
    const timer = setTimeout(() => {
      stream?.cancel();
      finish({ kind: 'ok' });
    }, method.responseStream ? Math.min(timeoutMs, 1_500) : timeoutMs + 2_000);
    let stream: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
    const onEnd = (error: grpc.ServiceError | null) => finish(classify(error));
    if (!method.requestStream && !method.responseStream) {
      client.makeUnaryRequest(method.path, identity, identity, messages[0] ?? Buffer.alloc(0), new grpc.Metadata(), { deadline }, (error) => onEnd(error));
      return;
    }
    if (!method.requestStream) {
      stream = client.makeServerStreamRequest(method.path, identity, identity, messages[0] ?? Buffer.alloc(0), new grpc.Metadata(), { deadline });
    } else if (method.responseStream) {
      const duplex = client.makeBidiStreamRequest(method.path, identity, identity, new grpc.Metadata(), { deadline });
      for (const m of messages) duplex.write(m);
      duplex.end();
      stream = duplex;
    } else {
      const writable = client.makeClientStreamRequest(method.path, identity, identity, new grpc.Metadata(), { deadline }, (error) => onEnd(error));
      for (const m of messages) writable.write(m);
      writable.end();
      return;
    }
    stream.on('data', () => undefined);
    stream.on('error', (error: grpc.ServiceError) => onEnd(error));
    stream.on('end', () => onEnd(null));
  });
}

/** Session responses carrying an error whose code is not a Conclave ErrorCode, or INTERNAL. */
export function badSessionErrors(down: Buffer[]): string[] {
  const SessionDown = protoRoot().lookupType('conclave.v1.SessionDown');
  const problems: string[] = [];
  for (const bytes of down) {
    const message = SessionDown.toObject(SessionDown.decode(bytes), { enums: String }) as { responses?: { error?: { code?: string | number; message?: string } }[] };
    for (const r of message.responses ?? []) {
      const code = r.error?.code;
      if (code === undefined || code === 'OK') continue;
      if (typeof code === 'number' || code === 'INTERNAL') problems.push(`${code}: ${r.error?.message}`);
    }
  }
  return problems;
}

/** Opens a session stream, sends the batches, collects what comes back until it ends or `ms` pass. */
export function sessionExchange(client: grpc.Client, batches: Buffer[], ms: number): Promise<{ down: Buffer[]; answer: Answer }> {
  return new Promise((resolve) => {
    const down: Buffer[] = [];
    const stream = client.makeBidiStreamRequest('/conclave.v1.Conclave/Session', identity, identity, new grpc.Metadata(), {});
    let done = false;
    const finish = (answer: Answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.cancel();
      resolve({ down, answer });
    };
    const timer = setTimeout(() => finish({ kind: 'ok' }), ms);
    stream.on('data', (b: Buffer) => down.push(b));
    stream.on('error', (error: grpc.ServiceError) => finish(classify(error)));
    stream.on('end', () => finish({ kind: 'ok' }));
    for (const b of batches) stream.write(b);
  });
}

// ---------------------------------------------------------------- peer frames

/** Frame kinds of the peer protocol, and the message each carries (none: raw bytes or empty). */
const PEER_FRAMES: { kind: number; message?: string }[] = [
  { kind: 1, message: 'conclave.raft.v1.PeerBatch' },
  { kind: 2, message: 'conclave.raft.v1.PeerReply' },
  { kind: 3, message: 'conclave.raft.v1.SnapshotOffer' },
  { kind: 4 },
  { kind: 5 },
];

/** A 4-byte big-endian length of the rest, a kind byte, the payload. */
function peerFrame(kind: number, payload: Uint8Array, length = payload.length + 1): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length >>> 0, 0);
  header[4] = kind;
  return Buffer.concat([header, payload]);
}

const rawBytes = fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a));

/** One frame: a well-formed message of its kind, random bytes, an unknown kind, or a lying length. */
const peerFrameArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(...PEER_FRAMES).chain(({ kind, message }) => {
    const type = message ? protoRoot().lookupType(message) : undefined;
    const payloads = type ? fc.oneof(messageArb(type).map((v) => encode(type, v)), rawBytes) : rawBytes;
    return payloads.map((payload) => peerFrame(kind, payload));
  }),
  fc.tuple(fc.integer({ min: 0, max: 255 }), rawBytes).map(([kind, payload]) => peerFrame(kind, payload)),
  fc.tuple(fc.constantFrom(0, 2 ** 32 - 1, 64 * 1024 * 1024 + 2), rawBytes).map(([length, payload]) => peerFrame(1, payload, length)),
);

/** What a connection to the peer port sends: a few frames, maybe cut short at the end. */
export const peerFramesArb: fc.Arbitrary<Buffer> = fc
  .tuple(fc.array(peerFrameArb, { minLength: 1, maxLength: 4 }), fc.nat({ max: 8 }))
  .map(([frames, cut]) => {
    const bytes = Buffer.concat(frames);
    return bytes.subarray(0, Math.max(1, bytes.length - cut));
  });

// ---------------------------------------------------------------- garbage bytes

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const TLS_HELLO = Buffer.from('16030100a5010000a10303' + '00'.repeat(32) + '000004c02bc02f0100007400000000', 'hex');

export const garbageArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.concat([HTTP2_PREFACE, Buffer.from(a)])),
  fc.integer({ min: 1, max: HTTP2_PREFACE.length - 1 }).map((n) => HTTP2_PREFACE.subarray(0, n)),
  fc.constant(TLS_HELLO),
  fc
    .tuple(fc.constantFrom('GET', 'POST', 'PRI', 'DELETE', 'BREW', ''), stringArb, fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/9', ''), fc.string({ maxLength: 200 }))
    .map(([m, p, v, h]) => Buffer.from(`${m} ${p} ${v}\r\nHost: x\r\nX-A: ${h}\r\n\r\n`)),
  fc.constantFrom(1, 64 * 1024).map((n) => Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(n * 16)}\r\n\r\n`)),
);

/** Writes bytes to a port and waits until the server closes the connection or `ms` pass; resolves how it ended. */
export function sendGarbage(port: number, bytes: Buffer, ms = 1_000): Promise<'closed' | 'open' | 'refused'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let settled = false;
    const done = (how: 'closed' | 'open' | 'refused') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => done('open'), ms);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', () => undefined);
    socket.on('close', () => done('closed'));
    socket.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
  });
}
