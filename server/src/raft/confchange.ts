/**
 * The binary form of a ConfChange in Entry.data (EntryType.ConfChange):
 *   byte 0     format version (1)
 *   byte 1     ConfChangeType
 *   varint     memberId
 *   varint     context length, then the context bytes (length 0: no context)
 * Hand-written so the core stays free of the protobuf runtime; it is tiny and never on the hot path.
 */

import { InvalidConfChangeError } from './errors.js';
import { ConfChangeType, type ConfChange } from './types.js';

const FORMAT_VERSION = 1;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const context = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(2 + 10 + 10 + context.length);
  out[0] = FORMAT_VERSION;
  out[1] = cc.type;
  let pos = writeVarint(out, 2, cc.memberId);
  pos = writeVarint(out, pos, context.length);
  out.set(context, pos);
  return out.subarray(0, pos + context.length);
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 4 || data[0] !== FORMAT_VERSION) throw new InvalidConfChangeError('malformed conf change');
  const type = data[1]!;
  if (type !== ConfChangeType.AddLearner && type !== ConfChangeType.Promote && type !== ConfChangeType.Remove) {
    throw new InvalidConfChangeError(`unknown conf change type ${type}`);
  }
  const member = readVarint(data, 2);
  const length = readVarint(data, member.next);
  if (member.next > data.length || length.next + length.value !== data.length) {
    throw new InvalidConfChangeError('malformed conf change');
  }
  const cc: ConfChange = { type, memberId: member.value };
  if (length.value > 0) cc.context = data.slice(length.next, length.next + length.value);
  return cc;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidConfChangeError(`bad varint value ${value}`);
  let v = value;
  while (v >= 0x80) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
  return pos;
}

function readVarint(data: Uint8Array, start: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let pos = start; pos < data.length && pos < start + 8; pos++) {
    const b = data[pos]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, next: pos + 1 };
    scale *= 0x80;
  }
  throw new InvalidConfChangeError('malformed conf change varint');
}
