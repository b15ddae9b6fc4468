/**
 * A snapshot's node records (conclave.raft.v1.SnapshotRecord with its `node` set), written and read
 * by hand in protobuf's wire format. They are nearly all of a snapshot, and the generic protobufjs
 * path builds five objects per record each way (the record, the node, the stat, a reader or writer,
 * a copy of the data) before the tree's own: with a million znodes that was most of a restart's and
 * of a snapshot's time. The bytes are the schema's, so protobufjs reads what this writes and the
 * other way round (server/test/node-record.test.ts checks both against random records).
 */
import { WireReader, varintFieldSize, varintSize, writeVarint, writeVarintField } from './protobuf-wire.js';
import { ZNode, NODE_KINDS, type NodeKind } from './tree/tree.js';

const RECORD_NODE_TAG = (2 << 3) | 2; // SnapshotRecord.node
const PATH_TAG = (1 << 3) | 2;
const DATA_TAG = (2 << 3) | 2;
const STAT_TAG = (3 << 3) | 2;
const KIND_TAG = (4 << 3) | 0;
const TTL_TAG = (5 << 3) | 0;
const EMPTY = new Uint8Array(0);

/** Stat fields by number (conclave.v1.Stat): the ones a snapshot keeps. */
const enum StatField {
  Czxid = 1,
  Mzxid = 2,
  Pzxid = 3,
  Ctime = 4,
  Mtime = 5,
  Version = 6,
  Cversion = 7,
  EphemeralOwner = 9,
}

/** The snapshot record of `node` at `path`. */
export function encodeNodeRecord(path: string, node: ZNode): Uint8Array {
  const pathBytes = Buffer.byteLength(path);
  const dataBytes = node.data.length;
  const statBytes =
    varintFieldSize(node.czxid) + varintFieldSize(node.mzxid) + varintFieldSize(node.pzxid) + varintFieldSize(node.ctime) + varintFieldSize(node.mtime) +
    varintFieldSize(node.version) + varintFieldSize(node.cversion) + varintFieldSize(node.ephemeralOwner);
  const kind = NODE_KINDS.indexOf(node.kind);
  const nodeBytes =
    1 + varintSize(pathBytes) + pathBytes +
    (dataBytes === 0 ? 0 : 1 + varintSize(dataBytes) + dataBytes) +
    1 + varintSize(statBytes) + statBytes +
    varintFieldSize(kind) + varintFieldSize(node.ttl);
  const out = Buffer.allocUnsafe(1 + varintSize(nodeBytes) + nodeBytes);
  let at = 0;
  out[at++] = RECORD_NODE_TAG;
  at = writeVarint(out, at, nodeBytes);
  out[at++] = PATH_TAG;
  at = writeVarint(out, at, pathBytes);
  at += out.write(path, at, pathBytes, 'utf8');
  if (dataBytes > 0) {
    out[at++] = DATA_TAG;
    at = writeVarint(out, at, dataBytes);
    out.set(node.data, at);
    at += dataBytes;
  }
  out[at++] = STAT_TAG;
  at = writeVarint(out, at, statBytes);
  at = writeVarintField(out, at, StatField.Czxid << 3, node.czxid);
  at = writeVarintField(out, at, StatField.Mzxid << 3, node.mzxid);
  at = writeVarintField(out, at, StatField.Pzxid << 3, node.pzxid);
  at = writeVarintField(out, at, StatField.Ctime << 3, node.ctime);
  at = writeVarintField(out, at, StatField.Mtime << 3, node.mtime);
  at = writeVarintField(out, at, StatField.Version << 3, node.version);
  at = writeVarintField(out, at, StatField.Cversion << 3, node.cversion);
  at = writeVarintField(out, at, StatField.EphemeralOwner << 3, node.ephemeralOwner);
  at = writeVarintField(out, at, KIND_TAG, kind);
  at = writeVarintField(out, at, TTL_TAG, node.ttl);
  return out;
}

/** Thrown for bytes that are not a well-formed record; the caller names the file. */
export class MalformedNodeRecordError extends Error {}

const malformed = (reason: string) => new MalformedNodeRecordError(reason);

/**
 * The node of a node record, built straight from the bytes (its data copied out of them: they are
 * a view into a chunk of the snapshot file); undefined when the record is not a node record
 * (the header and sessions go through protobufjs). Fields in any order and unknown fields are
 * accepted, as protobuf requires.
 */
export function decodeNodeRecord(input: Uint8Array): { path: string; node: ZNode } | undefined {
  if (input.length === 0 || input[0] !== RECORD_NODE_TAG) return undefined;
  const r = new WireReader(input, 1, input.length, malformed).message(RECORD_NODE_TAG & 7);
  if (r.end !== input.length) return undefined; // more fields after the node: leave it to protobufjs
  let path = '';
  let data: Uint8Array = EMPTY;
  let kind = 0;
  let ttl = 0;
  let czxid = 0, mzxid = 0, pzxid = 0, ctime = 0, mtime = 0, version = 0, cversion = 0, owner = 0;
  while (!r.done) {
    const tag = r.varint();
    switch (tag) {
      case PATH_TAG:
        path = r.string();
        break;
      case DATA_TAG:
        data = r.bytesCopy();
        break;
      case STAT_TAG: {
        const s = r.message(STAT_TAG & 7);
        while (!s.done) {
          const statTag = s.varint();
          if ((statTag & 7) !== 0) {
            s.skip(statTag & 7);
            continue;
          }
          const value = s.varint();
          switch (statTag >>> 3) {
            case StatField.Czxid: czxid = value; break;
            case StatField.Mzxid: mzxid = value; break;
            case StatField.Pzxid: pzxid = value; break;
            case StatField.Ctime: ctime = value; break;
            case StatField.Mtime: mtime = value; break;
            case StatField.Version: version = value | 0; break;
            case StatField.Cversion: cversion = value | 0; break;
            case StatField.EphemeralOwner: owner = value; break;
            default: break; // aversion, dataLength, numChildren: derived, not kept
          }
        }
        break;
      }
      case KIND_TAG:
        kind = r.varint();
        break;
      case TTL_TAG:
        ttl = r.varint();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  const kindName: NodeKind | undefined = NODE_KINDS[kind];
  if (kindName === undefined) throw new MalformedNodeRecordError(`node ${path} has unknown kind ${kind}`);
  const node = new ZNode(data, kindName, czxid, ctime, owner, ttl);
  node.mzxid = mzxid;
  node.pzxid = pzxid;
  node.mtime = mtime;
  node.version = version;
  node.cversion = cversion;
  return { path, node };
}

