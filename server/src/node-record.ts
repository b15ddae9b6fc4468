/**
 * A snapshot's node records (conclave.raft.v1.SnapshotRecord with its `node` set), written and read
 * by hand in protobuf's wire format. They are nearly all of a snapshot, and the generic protobufjs
 * path builds five objects per record each way (the record, the node, the stat, a reader or writer,
 * a copy of the data) before the tree's own: with a million znodes that was most of a restart's and
 * of a snapshot's time. The bytes are the schema's, so protobufjs reads what this writes and the
 * other way round (server/test/node-record.test.ts checks both against random records).
 */
import { WireReader, varintFieldSize, varintSize, writeVarint, writeVarintField } from '@conclave/proto/wire';
import type { RecordWriter } from './storage/snapshot-format.js';
import { ZNode, NODE_KINDS, type NodeKind } from './tree/tree.js';
import { DataSlabs } from './tree/data-slabs.js';

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

/**
 * Writes the snapshot record of a node into the snapshot file's chunk (a RecordWriter): set() aims
 * it at a node and measures the record; one writer serves a whole snapshot.
 */
export class NodeRecordWriter implements RecordWriter {
  size = 0;
  private path = '';
  private node: ZNode | undefined;
  private pathBytes = 0;
  private nodeBytes = 0;
  private statBytes = 0;
  private kind = 0;

  set(path: string, node: ZNode): this {
    this.path = path;
    this.node = node;
    const pathBytes = (this.pathBytes = Buffer.byteLength(path));
    const dataBytes = node.dataLength;
    const statBytes = (this.statBytes =
      varintFieldSize(node.czxid) + varintFieldSize(node.mzxid) + varintFieldSize(node.pzxid) + varintFieldSize(node.ctime) + varintFieldSize(node.mtime) +
      varintFieldSize(node.version) + varintFieldSize(node.cversion) + varintFieldSize(node.ephemeralOwner));
    const kind = (this.kind = NODE_KINDS.indexOf(node.kind));
    const nodeBytes = (this.nodeBytes =
      1 + varintSize(pathBytes) + pathBytes +
      (dataBytes === 0 ? 0 : 1 + varintSize(dataBytes) + dataBytes) +
      1 + varintSize(statBytes) + statBytes +
      varintFieldSize(kind) + varintFieldSize(node.ttl));
    this.size = 1 + varintSize(nodeBytes) + nodeBytes;
    return this;
  }

  writeTo(out: Buffer, at: number): void {
    const node = this.node!;
    const dataBytes = node.dataLength;
    out[at++] = RECORD_NODE_TAG;
    at = writeVarint(out, at, this.nodeBytes);
    out[at++] = PATH_TAG;
    at = writeVarint(out, at, this.pathBytes);
    at += out.write(this.path, at, this.pathBytes, 'utf8');
    if (dataBytes > 0) {
      out[at++] = DATA_TAG;
      at = writeVarint(out, at, dataBytes);
      out.set(node.data, at);
      at += dataBytes;
    }
    out[at++] = STAT_TAG;
    at = writeVarint(out, at, this.statBytes);
    at = writeVarintField(out, at, StatField.Czxid << 3, node.czxid);
    at = writeVarintField(out, at, StatField.Mzxid << 3, node.mzxid);
    at = writeVarintField(out, at, StatField.Pzxid << 3, node.pzxid);
    at = writeVarintField(out, at, StatField.Ctime << 3, node.ctime);
    at = writeVarintField(out, at, StatField.Mtime << 3, node.mtime);
    at = writeVarintField(out, at, StatField.Version << 3, node.version);
    at = writeVarintField(out, at, StatField.Cversion << 3, node.cversion);
    at = writeVarintField(out, at, StatField.EphemeralOwner << 3, node.ephemeralOwner);
    at = writeVarintField(out, at, KIND_TAG, this.kind);
    writeVarintField(out, at, TTL_TAG, node.ttl);
  }
}

/** Thrown for bytes that are not a well-formed record; the caller names the file. */
export class MalformedNodeRecordError extends Error {}

const malformed = (reason: string) => new MalformedNodeRecordError(reason);

/** What decodeNodeRecord read: the caller's object, filled in place (no object per record). */
export interface DecodedNode {
  path: string;
  node: ZNode | undefined;
}

/** decodeNodeRecord's reader, reused: the decoder is synchronous, so one at a time uses it */
const reader = new WireReader(EMPTY, 0, 0, malformed);
/** restored nodes' data: made together, in bulk, so in larger slabs than the tree's own */
const dataSlabs = new DataSlabs(64 * 1024, 4096);

/**
 * The node of a node record, built straight from bytes [start, end) of `input` into `out` (its
 * data copied out of them: they are part of a chunk of the snapshot file); false when the record
 * is not a node record (the header and sessions go through protobufjs). Fields in any order and
 * unknown fields are accepted, as protobuf requires. Allocates only the node and its path (its data
 * is copied into shared slabs: ZNode.setDataIn).
 */
export function decodeNodeRecord(input: Uint8Array, start: number, end: number, out: DecodedNode): boolean {
  if (end <= start || input[start] !== RECORD_NODE_TAG) return false;
  const r = reader;
  r.reset(input, start + 1, end);
  r.enter(RECORD_NODE_TAG & 7);
  if (r.limit !== end) return false; // more fields after the node: leave it to protobufjs
  let path = '';
  let dataLength = 0;
  let dataIn: Uint8Array = EMPTY;
  let dataAt = 0;
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
        dataLength = r.bytesPlaced(dataSlabs);
        dataIn = dataSlabs.placedIn;
        dataAt = dataSlabs.placedAt;
        break;
      case STAT_TAG: {
        const nodeEnd = r.enter(STAT_TAG & 7);
        while (!r.done) {
          const statTag = r.varint();
          if ((statTag & 7) !== 0) {
            r.skip(statTag & 7);
            continue;
          }
          const value = r.varint();
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
        r.leave(nodeEnd);
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
  const node = new ZNode(EMPTY, kindName, czxid, ctime, owner, ttl);
  if (dataLength > 0) node.setDataIn(dataIn, dataAt, dataLength);
  node.mzxid = mzxid;
  node.pzxid = pzxid;
  node.mtime = mtime;
  node.version = version;
  node.cversion = cversion;
  out.path = path;
  out.node = node;
  return true;
}
