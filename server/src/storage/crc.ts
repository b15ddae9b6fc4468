/** CRC-32C (Castagnoli), the checksum of every WAL and snapshot frame. */
import CRC32C from 'crc-32/crc32c.js';

/** crc32c of `data` as an unsigned 32-bit integer; pass a previous result as `seed` to continue it. */
export function crc32c(data: Uint8Array, seed?: number): number {
  return CRC32C.buf(data, seed) >>> 0;
}
