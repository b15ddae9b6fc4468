/**
 * Loads Conclave's .proto files once, with the one set of loader options used everywhere, and
 * exposes: the gRPC service definitions (typed by the generated ProtoGrpcType), and binary codecs
 * for messages that are encoded outside gRPC (log entries, snapshot records, peer payloads).
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { ProtoGrpcType as PublicGrpcType } from '../gen/conclave.js';

/** Folder holding the `conclave/...` .proto tree (the include root). */
export const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PUBLIC_PROTO = 'conclave/v1/conclave.proto';
export const RAFT_PROTO = 'conclave/raft/v1/raft.proto';

/** The options every loader in Conclave uses, so decoded messages have one shape. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let publicPackage: PublicGrpcType | undefined;
let publicDefinition: protoLoader.PackageDefinition | undefined;

export function publicPackageDefinition(): protoLoader.PackageDefinition {
  publicDefinition ??= protoLoader.loadSync(PUBLIC_PROTO, LOADER_OPTIONS);
  return publicDefinition;
}

/** The public API (services Conclave, Leases, Cluster) for @grpc/grpc-js. */
export function loadPublicApi(): PublicGrpcType {
  publicPackage ??= grpc.loadPackageDefinition(publicPackageDefinition()) as unknown as PublicGrpcType;
  return publicPackage;
}

let root: protobuf.Root | undefined;
function protobufRoot(): protobuf.Root {
  if (!root) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
    root.loadSync([PUBLIC_PROTO, RAFT_PROTO], { keepCase: false });
    root.resolveAll();
  }
  return root;
}

const CONVERSION: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** A binary codec for one message type; decoded objects have the same shape as gRPC's. */
export interface Codec<In, Out> {
  encode(message: In): Uint8Array;
  decode(bytes: Uint8Array): Out;
}

/** A codec for a fully qualified message name, e.g. `conclave.raft.v1.Txn`. */
export function codec<In, Out>(typeName: string): Codec<In, Out> {
  const type = protobufRoot().lookupType(typeName);
  return {
    encode: (message: In) => type.encode(type.fromObject(message as Record<string, unknown>)).finish(),
    decode: (bytes: Uint8Array) => type.toObject(type.decode(bytes), CONVERSION) as Out,
  };
}

/** The values of a fully qualified enum, by name, e.g. `conclave.v1.ErrorCode`. */
export function enumValues(typeName: string): Readonly<Record<string, number>> {
  return protobufRoot().lookupEnum(typeName).values;
}


/**
 * Makes protobufjs decode 64-bit integers straight to JavaScript numbers instead of Long objects,
 * for the whole process: decoding skips a Long allocation and conversion per field (half the cost
 * of a session request). Only for processes whose every protobuf user is fine with that, such as a
 * Conclave server (its ids stay below 2^53); never in a library, where another protobuf user in the
 * same process may need exact 64-bit values (etcd's lease ids, for example).
 */
export function decodeLongsAsNumbers(): void {
  protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
  protobuf.configure();
}

export type { PublicGrpcType };
export { estimateSize, splitFrames } from './frames.js';
export { CLIENT_FLOW_CONTROL, FLOW_CONTROL_WINDOW_BYTES, widenServerWindows } from './flow-control.js';
