/**
 * Binary encodings of what the server writes to its log and snapshots (schemas in raft.proto):
 * transactions, snapshot records and the member record carried by a membership change.
 */
import { codec } from '@conclave/proto';
import type { Member__Output as Member } from '@conclave/proto/gen/conclave/v1/Member.js';
import type { SnapshotRecord, Txn } from './fsm/state-machine.js';

const txnCodec = codec<Partial<Txn>, Txn>('conclave.raft.v1.Txn');
const recordCodec = codec<SnapshotRecord, SnapshotRecord>('conclave.raft.v1.SnapshotRecord');
const memberCodec = codec<Member, Member>('conclave.v1.Member');

export const encodeTxn = (txn: Partial<Txn>): Uint8Array => txnCodec.encode(txn);
export const decodeTxn = (bytes: Uint8Array): Txn => txnCodec.decode(bytes);
export const encodeSnapshotRecord = (record: SnapshotRecord): Uint8Array => recordCodec.encode(record);
export const decodeSnapshotRecord = (bytes: Uint8Array): SnapshotRecord => recordCodec.decode(bytes);
export const encodeMember = (member: Member): Uint8Array => memberCodec.encode(member);
export const decodeMember = (bytes: Uint8Array): Member => memberCodec.decode(bytes);

const TIME_TAG = (4 << 3) | 0; // Txn.time_ms, varint

/**
 * The leader's time stamp, appended to an encoded Txn: protobuf lets a later occurrence of a scalar
 * field override an earlier one, so a forwarded transaction is stamped without being re-encoded.
 */
export function stampTime(txn: Uint8Array, timeMs: number): Uint8Array {
  const out = new Uint8Array(txn.length + 1 + 10);
  out.set(txn, 0);
  let at = txn.length;
  out[at++] = TIME_TAG;
  let value = Math.max(0, Math.floor(timeMs));
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return out.subarray(0, at);
}
