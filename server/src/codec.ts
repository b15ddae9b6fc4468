/**
 * Binary encodings of what the server writes to its log and snapshots (schemas in raft.proto):
 * transactions, snapshot records and the member record carried by a membership change.
 */
import { codec } from '@conclave/proto';
import type { Member__Output as Member } from '@conclave/proto/gen/conclave/v1/Member.js';
import type { SnapshotMetaRecord, SnapshotRecord, SnapshotRestorer, StateMachine } from './fsm/state-machine.js';
import { NodeRecordWriter, decodeNodeRecord, type DecodedNode } from './node-record.js';
import type { EncodableRecord } from './storage/snapshot-format.js';
import { writeVarint } from '@conclave/proto/wire';

const recordCodec = codec<SnapshotRecord, SnapshotRecord>('conclave.raft.v1.SnapshotRecord');
const memberCodec = codec<Member, Member>('conclave.v1.Member');

/** Transactions are encoded and decoded by hand (txn-encode.ts, txn-decode.ts: node data and secrets copied out of the entry). */
export { encodeTxn } from './txn-encode.js';
export { decodeTxn } from './txn-decode.js';
const encodeSnapshotRecord = (record: SnapshotRecord): Uint8Array => recordCodec.encode(record);

/**
 * The records of a snapshot of `fsm` for encodeSnapshot: node records as one NodeRecordWriter aimed
 * at each node in turn (valid until the next record is pulled: recordBytes for bytes to keep), the
 * others encoded.
 */
export function* snapshotRecords(fsm: StateMachine, meta: SnapshotMetaRecord): Generator<EncodableRecord> {
  const writer = new NodeRecordWriter();
  for (const part of fsm.snapshotParts(meta)) yield Array.isArray(part) ? writer.set(part[0], part[1]) : encodeSnapshotRecord(part);
}

const decoded: DecodedNode = { path: '', node: undefined };

/**
 * Decodes one record into `restorer`. `bytes` may be a view into a chunk of the snapshot file:
 * node data and session secrets are copied out of it (see decodeTxn).
 */
export function addSnapshotRecord(restorer: SnapshotRestorer, bytes: Uint8Array): void {
  if (decodeNodeRecord(bytes, 0, bytes.length, decoded)) {
    const node = decoded.node!;
    decoded.node = undefined;
    return restorer.addNode(decoded.path, node);
  }
  const record = recordCodec.decode(bytes);
  if (record.session) record.session.secret = Buffer.from(record.session.secret);
  restorer.add(record);
}

export const encodeMember = (member: Member): Uint8Array => memberCodec.encode(member);
export const decodeMember = (bytes: Uint8Array): Member => memberCodec.decode(bytes);

const TIME_TAG = (4 << 3) | 0; // Txn.time_ms, varint

/**
 * The leader's time stamp, appended to a Txn a follower forwarded (encoded without a time): protobuf
 * lets a later occurrence of a scalar field override an earlier one, so it is not re-encoded.
 */
export function stampTime(txn: Uint8Array, timeMs: number): Uint8Array {
  // From Buffer's shared pool: an ArrayBuffer of its own per write cost every scavenge a sweep of
  // its external memory (the entry is copied into the log's slabs and dies young either way).
  const out = Buffer.allocUnsafe(txn.length + 1 + 10);
  out.set(txn, 0);
  let at = txn.length;
  out[at++] = TIME_TAG;
  at = writeVarint(out, at, Math.max(0, Math.floor(timeMs)));
  return out.subarray(0, at);
}
