/** Shared by the tests of the hand-written protobuf codecs (peer batches, transactions). */
import assert from 'node:assert/strict';
import fc from 'fast-check';

/** `value` with every byte array (Buffer or Uint8Array) replaced by its bytes: compares by content. */
export const byContent = (value: unknown): unknown =>
  JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => {
      if (v instanceof Uint8Array) return { bytes: [...v] };
      const json = v as { type?: unknown; data?: unknown } | null;
      return json && typeof json === 'object' && json.type === 'Buffer' && Array.isArray(json.data) ? { bytes: json.data } : v;
    }),
  );

/**
 * `decode` of every prefix of each valid encoding, and of random bytes, either succeeds or throws
 * `error`: nothing read off the wire or the disk may fail any other way.
 */
export function assertRefusesOnlyWith(decode: (bytes: Uint8Array) => unknown, error: new (...args: never[]) => Error, valid: readonly Uint8Array[]): void {
  const check = (bytes: Uint8Array) => {
    try {
      decode(bytes);
    } catch (thrown) {
      assert.ok(thrown instanceof error, String(thrown));
    }
  };
  for (const b of valid) for (let cut = 1; cut < b.length; cut++) check(b.subarray(0, cut));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 2000 });
}
