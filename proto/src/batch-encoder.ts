/**
 * Encoding of a batch message (one whose only field, number 1, is a repeated message, such as
 * SessionDown) for a gRPC stream's serializer, with two savings over proto-loader's serializer:
 *
 * - an item may be handed over already encoded (`encodeItem`), so that one watch event going to a
 *   thousand session streams is encoded once, not a thousand times;
 * - the batch is written into one buffer reused from call to call. gRPC's serializer copies the
 *   message behind its 5-byte frame header before it returns (grpc-js `serializeMessage`), so a
 *   100 KB response costs one buffer, gRPC's, instead of two. Only for a serializer used that way:
 *   what `serializeTransient` returns is overwritten by its next call.
 */
import protobuf from 'protobufjs';

const ITEMS_TAG = (1 << 3) | 2; // field 1, length-delimited

let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** A protobufjs writer whose finish() writes into the shared scratch buffer (grown to the largest message seen). */
class ScratchWriter extends protobuf.BufferWriter {
  static override alloc(size: number): Buffer {
    if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, scratch.length * 2));
    return scratch.subarray(0, size);
  }
}

export interface BatchEncoder<Item> {
  /** An item's encoding, to give `serializeTransient` in place of the item itself (kept by the caller). */
  encodeItem(item: Item): Uint8Array;
  /** The batch of `items` (objects, or encodings from `encodeItem`), valid until the next call. */
  serializeTransient(items: ReadonlyArray<Item | Uint8Array>): Buffer;
}

/** A batch encoder for `batchType`, a message whose only field is `repeated Item items = 1`. */
export function batchEncoder<Item>(batchType: protobuf.Type): BatchEncoder<Item> {
  const fields = batchType.fieldsArray;
  const field = fields[0];
  if (fields.length !== 1 || field === undefined || field.id !== 1 || !field.repeated || !(field.resolve().resolvedType instanceof protobuf.Type)) {
    throw new Error(`${batchType.fullName} is not a batch message (one repeated message field, number 1)`);
  }
  const itemType = field.resolvedType as protobuf.Type;
  return {
    encodeItem: (item) => itemType.encode(itemType.fromObject(item as Record<string, unknown>)).finish(),
    serializeTransient(items) {
      const writer = new ScratchWriter();
      for (const item of items) {
        if (item instanceof Uint8Array) writer.uint32(ITEMS_TAG).bytes(item);
        else itemType.encode(itemType.fromObject(item as Record<string, unknown>), writer.uint32(ITEMS_TAG).fork()).ldelim();
      }
      return writer.finish() as Buffer;
    },
  };
}
