import assert from 'node:assert/strict';
import fc from 'fast-check';
import CRC32C from 'crc-32/crc32c.js';
import { NATIVE_MIN_BYTES, crc32c, crc32cRange, nativeCrcLoaded } from '../../src/storage/crc.js';

/** The reference: crc-32's table in JavaScript. */
const crc32cTable = (data: Uint8Array, seed?: number): number => CRC32C.buf(data, seed) >>> 0;

describe('crc32c', () => {
  it('matches the published check value (RFC 3720: "123456789" -> 0xe3069283)', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(NATIVE_MIN_BYTES + 7, 0x61)), crc32cTable(Buffer.alloc(NATIVE_MIN_BYTES + 7, 0x61)));
  });

  it('loads the native code on this platform (linux x64 ships a prebuilt binding)', function () {
    // Skipped elsewhere: CI and the server image run on linux x64, where a prebuilt binding must load;
    // on a platform without one the table is the intended fallback, so there is nothing to assert.
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    assert.equal(nativeCrcLoaded, true);
  });

  it('gives the table\'s result for every length and seed, on both sides of the native threshold', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 4 * NATIVE_MIN_BYTES }),
        fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
        (data, seed) => {
          assert.equal(crc32c(data, seed), crc32cTable(data, seed));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('continues a checksum across pieces, and over a range without a view', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3 * NATIVE_MIN_BYTES }), fc.nat(), fc.nat(), (data, a, b) => {
        const [start, end] = [a % (data.length + 1), b % (data.length + 1)].sort((x, y) => x - y) as [number, number];
        const whole = crc32c(data);
        assert.equal(crc32c(data.subarray(start), crc32c(data.subarray(0, start))), whole);
        assert.equal(crc32cRange(data, start, end, 7), crc32c(data.subarray(start, end), 7));
      }),
      { numRuns: 300 },
    );
  });
});
