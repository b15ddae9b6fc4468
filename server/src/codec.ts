/**
 * Binary encodings of what the server writes to its log and snapshots (schemas in raft.proto):
 * transactions, snapshot records and the member record carried by a membership change.
 */
import { codec } from '@conclave/proto';
import type { Member__Output as Member } from '@conclave/proto/gen/conclave/v1/Member.js';
import type { SnapshotRecord, Txn } from './fsm/state-machine.js';
import { NODE_KINDS } from './tree/tree.js';

const txnCodec = codec<Partial<Txn>, Txn>('conclave.raft.v1.Txn');
const recordCodec = codec<SnapshotRecord, SnapshotRecord>('conclave.raft.v1.SnapshotRecord');
const memberCodec = codec<Member, Member>('conclave.v1.Member');

export const encodeTxn = (txn: Partial<Txn>): Uint8Array => txnCodec.encode(txn);
/**
 * Decodes a transaction; node data is copied out of `bytes`. Decoded bytes are views into the
 * message they came in (a whole batch from a peer connection); the tree keeps data for a long time and
 * must not keep those messages alive. Small copies come from Node's shared buffer pool, which costs
 * less memory per znode than a buffer of its own.
 */
export function decodeTxn(bytes: Uint8Array): Txn {
  const txn = txnCodec.decode(bytes);
  if (txn.create) txn.create.data = Buffer.from(txn.create.data);
  if (txn.setData) txn.setData.data = Buffer.from(txn.setData.data);
  for (const op of txn.multi?.ops ?? []) {
    if (op.create) op.create.data = Buffer.from(op.create.data);
    if (op.setData) op.setData.data = Buffer.from(op.setData.data);
  }
  return txn;
}
export const encodeSnapshotRecord = (record: SnapshotRecord): Uint8Array => recordCodec.encode(record);
type RawNode = Omit<NonNullable<SnapshotRecord['node']>, 'kind'> & { kind: number };

/**
 * Decodes a snapshot record; node data is copied out of `bytes` (see decodeTxn). Node records are
 * most of a snapshot, so they skip the conversion to the gRPC shape (restart time).
 */
export function decodeSnapshotRecord(bytes: Uint8Array): SnapshotRecord {
  const raw = recordCodec.decodeRaw(bytes) as { node?: RawNode | null };
  if (raw.node == null) return recordCodec.decode(bytes);
  const n = raw.node;
  return { node: { path: n.path, data: Buffer.from(n.data), stat: statOfNumbers(n.stat), kind: NODE_KINDS[n.kind] ?? String(n.kind), ttlMs: asNumber(n.ttlMs) } };
}

type Stat = NonNullable<NonNullable<SnapshotRecord['node']>['stat']>;

/**
 * A raw decode gives 64-bit fields as Long objects unless the process decodes longs as numbers
 * (decodeLongsAsNumbers, set by the server's main only): tools and tests that read snapshots must
 * get the same numbers the server does (an owner kept as a Long matches no session).
 */
function statOfNumbers(stat: Stat | null): Stat | null {
  if (stat == null || typeof stat.czxid === 'number') return stat;
  return {
    czxid: asNumber(stat.czxid),
    mzxid: asNumber(stat.mzxid),
    pzxid: asNumber(stat.pzxid),
    ctime: asNumber(stat.ctime),
    mtime: asNumber(stat.mtime),
    version: stat.version,
    cversion: stat.cversion,
    aversion: stat.aversion,
    ephemeralOwner: asNumber(stat.ephemeralOwner),
    dataLength: stat.dataLength,
    numChildren: stat.numChildren,
  };
}

function asNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}
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
