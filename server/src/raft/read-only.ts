/**
 * The leader's queue of ReadIndex requests waiting for a heartbeat quorum (after etcd-io/raft's
 * read_only.go, ReadOnlySafe only). Each request gets a sequence number, carried as the heartbeat
 * context; a heartbeat answer for sequence s proves the member still followed this leader after
 * every request <= s was registered, so it acknowledges all of them at once.
 */

import type { MemberId } from './types.js';

export interface ReadRequest {
  /** Who asked: this member, or a follower that forwarded its MsgReadIndex. */
  from: MemberId;
  context: Uint8Array;
}

interface PendingRead {
  seq: number;
  /** The leader's commit index when the request arrived. */
  index: number;
  request: ReadRequest;
  acks: Set<MemberId>;
}

export interface ReleasedRead {
  index: number;
  request: ReadRequest;
}

export class ReadOnlyQueue {
  private queue: PendingRead[] = [];
  private nextSeq = 1;

  /** Registers a request and returns the sequence number to send as heartbeat context. */
  add(index: number, request: ReadRequest, self: MemberId): number {
    const seq = this.nextSeq++;
    this.queue.push({ seq, index, request, acks: new Set([self]) });
    return seq;
  }

  /** Sequence of the newest pending request, or 0 when none is pending. */
  lastSeq(): number {
    return this.queue.length === 0 ? 0 : this.queue[this.queue.length - 1]!.seq;
  }

  isEmpty(): boolean {
    return this.queue.length === 0;
  }

  /** Records that `from` answered a heartbeat carrying `seq`. */
  recvAck(from: MemberId, seq: number): void {
    for (const pending of this.queue) {
      if (pending.seq > seq) break;
      pending.acks.add(from);
    }
  }

  /** Removes and returns the leading requests acknowledged by a quorum, oldest first. */
  release(hasQuorum: (acks: Set<MemberId>) => boolean): ReleasedRead[] {
    let n = 0;
    while (n < this.queue.length && hasQuorum(this.queue[n]!.acks)) n++;
    if (n === 0) return [];
    const released = this.queue.slice(0, n).map((p) => ({ index: p.index, request: p.request }));
    this.queue = this.queue.slice(n);
    return released;
  }

  reset(): void {
    this.queue = [];
  }
}

/** Heartbeat context for read sequence `seq` (8 bytes, little endian). */
export function encodeReadSeq(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  let v = seq;
  for (let i = 0; i < 8; i++) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/** The read sequence of a heartbeat context, or 0 if it carries none. */
export function decodeReadSeq(context: Uint8Array | undefined): number {
  if (context === undefined || context.length !== 8) return 0;
  let v = 0;
  for (let i = 7; i >= 0; i--) v = v * 256 + context[i]!;
  return v;
}
