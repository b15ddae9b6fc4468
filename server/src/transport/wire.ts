/**
 * The framing of the peer protocol on a TCP connection: each frame is a 4-byte big-endian length
 * (of what follows), a 1-byte kind and a protobuf message (raft.proto). A connection carries one
 * kind of traffic, told by its first frame: a stream of batches (Batch frames one way, Reply frames back)
 * or one snapshot transfer (SnapshotOffer, SnapshotData frames, SnapshotEnd; one Reply back).
 */

import type { Writable } from 'node:stream';

export enum FrameKind {
  /** A PeerBatch: Raft messages, session touches, forwarded writes and their rejections. */
  Batch = 1,
  /** A PeerReply: a ping's echo, or a refusal. */
  Reply = 2,
  /** A SnapshotOffer: who sends which snapshot (its MsgSnap). */
  SnapshotOffer = 3,
  /** The snapshot file's next bytes, as they are (not protobuf). */
  SnapshotData = 4,
  /** The snapshot file is complete (no payload). */
  SnapshotEnd = 5,
}

export interface Frame {
  kind: FrameKind;
  payload: Buffer;
}

/** Bytes in front of each payload: its length (4) and kind (1). */
export const FRAME_HEADER_BYTES = 5;

/** A frame the reader cannot accept; the connection it came on is closed. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/**
 * Writes one frame without copying its payload (the header and the payload go out in one writev).
 * Returns what the stream's write returned: false when it is over its high-water mark.
 */
export function writeFrame(stream: Writable, kind: FrameKind, payload: Uint8Array): boolean {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payload.length + 1, 0);
  header[4] = kind;
  stream.cork();
  stream.write(header);
  const accepted = stream.write(payload);
  stream.uncork();
  return accepted;
}

/** The bytes of a frame given in pieces. */
export function piecesLength(pieces: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const piece of pieces) bytes += piece.length;
  return bytes;
}

/**
 * Writes one frame whose payload was encoded behind FRAME_HEADER_BYTES left free at the start of
 * its first piece (encodePeerBatchPieces's `room`): the header is written in place, and a frame of
 * one piece goes out in one write, without the cork, the second write and the writev a separate
 * header costs; a frame of several pieces in one writev.
 */
export function writeFrameInPlace(stream: Writable, kind: FrameKind, pieces: readonly Uint8Array[]): boolean {
  const first = pieces[0]!;
  const length = piecesLength(pieces) - 4;
  first[0] = length >>> 24;
  first[1] = (length >>> 16) & 0xff;
  first[2] = (length >>> 8) & 0xff;
  first[3] = length & 0xff;
  first[4] = kind;
  if (pieces.length === 1) return stream.write(first);
  stream.cork();
  let accepted = true;
  for (const piece of pieces) accepted = stream.write(piece);
  stream.uncork();
  return accepted;
}

/**
 * Cuts a byte stream into frames. Payloads are views into the received chunks (a frame split
 * across chunks is copied once). A length over `maxFrameBytes` or an unknown kind is a FrameError:
 * the stream cannot be resynchronised after it.
 */
export class FrameReader {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Bytes the frame at the head of the buffer needs in all, once its length is known. */
  private needed = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** The frames `chunk` completes; on a FrameError, none, after telling `fail` why. */
  read(chunk: Buffer, fail: (reason: string) => void): Frame[] {
    try {
      return this.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      fail(error.message);
      return [];
    }
  }

  push(chunk: Buffer): Frame[] {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    // A large frame arrives in many chunks: join them once, when it is complete.
    if (this.bufferedBytes < this.needed) return [];
    const data = this.buffered.length === 1 ? chunk : Buffer.concat(this.buffered, this.bufferedBytes);
    const frames: Frame[] = [];
    let at = 0;
    this.needed = 0;
    while (data.length - at >= 4) {
      const length = data.readUInt32BE(at);
      if (length === 0 || length > this.maxFrameBytes + 1) {
        throw new FrameError(`peer frame of ${length} bytes (the limit is ${this.maxFrameBytes + 1})`);
      }
      if (data.length - at < 4 + length) {
        this.needed = 4 + length;
        break;
      }
      const kind = data[at + 4]!;
      if (!(kind in FrameKind)) throw new FrameError(`unknown peer frame kind ${kind}`);
      frames.push({ kind, payload: data.subarray(at + FRAME_HEADER_BYTES, at + 4 + length) });
      at += 4 + length;
    }
    const rest = data.subarray(at);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return frames;
  }
}
