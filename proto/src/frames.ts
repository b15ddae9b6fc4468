/**
 * Splitting batches into frames: a stream message carries many requests, responses or Raft
 * messages, but must stay under gRPC's message size limit. Sizes are estimated without encoding
 * (bytes and strings count their length, every field a few bytes of overhead), which is close to
 * protobuf's size and errs on the large side.
 */

/** Estimated encoded size of a message object. */
export function estimateSize(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string') return value.length + 2;
  if (typeof value !== 'object') return 10;
  if (ArrayBuffer.isView(value)) return value.byteLength + 4;
  let size = 2;
  if (Array.isArray(value)) {
    for (const item of value) size += estimateSize(item);
    return size;
  }
  for (const key in value) size += 2 + estimateSize((value as Record<string, unknown>)[key]);
  return size;
}

/** Cuts `items` into consecutive groups of at most `maxBytes` (estimated); a larger item goes alone. */
export function splitFrames<T>(items: T[], maxBytes: number): T[][] {
  const frames: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = estimateSize(item);
    if (current.length > 0 && bytes + size > maxBytes) {
      frames.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) frames.push(current);
  return frames;
}
