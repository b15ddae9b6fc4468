/**
 * What the node needs from the network between members. The gRPC implementation is
 * peer-transport.ts; tests and simulations can provide their own.
 */
import type { Message } from '../raft/types.js';
import type { ErrorCode } from '../errors.js';

export interface ForwardedTxn {
  originSeq: number;
  txn: Uint8Array;
}

export interface ForwardRejection {
  originSeq: number;
  code: ErrorCode;
  message: string;
}

export type Refusal = 'CLUSTER_MISMATCH' | 'MEMBER_REMOVED' | 'UNKNOWN_MEMBER';

/** Called by the transport for what arrives from peers. */
export interface PeerHandlers {
  /** Whether to accept traffic from `from` claiming `clusterId`; a refusal is sent back to it. */
  admit(from: number, clusterId: string): { refusal: Refusal; message: string } | undefined;
  /** A peer told us its address (every batch carries it). */
  onPeerAddress(from: number, address: string): void;
  onMessages(from: number, messages: Message[]): void;
  onTouches(from: number, sessionIds: number[]): void;
  onForwards(from: number, forwards: ForwardedTxn[]): void;
  onRejections(from: number, rejections: ForwardRejection[]): void;
  /** A snapshot file arriving from the leader; resolves once it is stored and stepped into Raft. */
  onSnapshot(from: number, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * The stream `from` sends on closed (its process died, it dropped the connection, or it is
   * reconnecting); it reopens one before sending again.
   */
  onDisconnected(from: number): void;
  /** A peer refused us (we were removed, or belong to another cluster). */
  onRefused(peer: number, refusal: Refusal, message: string): void;
}

export interface Transport {
  start(handlers: PeerHandlers): Promise<void>;
  /** Peer addresses (host:port of their peer port), by member id; self excluded. */
  setPeers(peers: ReadonlyMap<number, string>): void;
  /** Tells every peer this member is up (a starting member does: peers waiting to redial it dial now). */
  greet(): void;
  /** Raft messages, sent in order per destination (a MsgSnap goes through sendSnapshot). */
  send(messages: Message[]): void;
  /**
   * Sends what is queued now. Without it, what is queued goes out together at the end of the
   * current turn of the event loop: one stream message per peer for everything queued in the turn.
   */
  flush(): void;
  sendTouches(to: number, sessionIds: number[]): void;
  forward(to: number, forwards: ForwardedTxn[]): void;
  reject(to: number, rejections: ForwardRejection[]): void;
  /**
   * Streams a snapshot file with its MsgSnap; `done(ok)` reports the outcome (for reportSnapshot).
   */
  sendSnapshot(message: Message, open: () => AsyncIterable<Uint8Array>, done: (ok: boolean) => void): void;
  /** Bytes sent and received per peer, and round-trip times, for metrics. */
  stop(): Promise<void>;
}
