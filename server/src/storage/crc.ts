/** CRC-32C (Castagnoli), the checksum of every WAL and snapshot frame. */
import CRC32C from 'crc-32/crc32c.js';

/** crc32c of `data` as an unsigned 32-bit integer; pass a previous result as `seed` to continue it. */
export function crc32c(data: Uint8Array, seed?: number): number {
  return CRC32C.buf(data, seed) >>> 0;
}

/** the library's byte table (exported by crc-32, not in its types) */
const TABLE = (CRC32C as unknown as { table: Int32Array }).table;

/** crc32c of bytes [start, end) of `data` continuing `seed`, for short ranges: no view is made. */
export function crc32cRange(data: Uint8Array, start: number, end: number, seed = 0): number {
  let c = ~seed;
  for (let i = start; i < end; i++) c = (c >>> 8) ^ TABLE[(c ^ data[i]!) & 0xff]!;
  return ~c >>> 0;
}
