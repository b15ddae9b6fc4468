/**
 * The network between members, on the peer port: framed protobuf messages (wire.ts) on plain TCP.
 * One long-lived connection per (sender, receiver) carries batches of Raft messages, session
 * touches and forwarded writes one way and replies (ping echoes, refusals) the other; each snapshot
 * transfer has a connection of its own. Every batch carries the cluster id; a receiver refuses
 * other clusters and removed members, and tells them why. Messages to an unreachable peer are
 * dropped (Raft retries), and so are batches for a peer whose connection has too much unsent data;
 * a new connection resolves the peer's name again. docs/design.md says why this is not gRPC.
 */
import net from 'node:net';
import { codec, splitFrames } from '@conclave/proto';
import type { PeerReply, PeerReply__Output } from '@conclave/proto/gen/conclave/raft/v1/PeerReply.js';
import type { SnapshotOffer, SnapshotOffer__Output } from '@conclave/proto/gen/conclave/raft/v1/SnapshotOffer.js';
import type { Logger } from '../logger.js';
import type { Message } from '../raft/types.js';
import type { ErrorCode } from '../errors.js';
import { fromWire, toWire } from './convert.js';
import { PeerBatchStrings, decodePeerBatch, encodePeerBatchPieces, type DecodedPeerBatch, type PeerBatchData } from './peer-codec.js';
import type { ForwardRejection, ForwardedTxn, PeerHandlers, Refusal, Transport } from './transport.js';
import { FRAME_HEADER_BYTES, FrameKind, FrameReader, piecesLength, writeFrame, writeFrameInPlace, type Frame } from './wire.js';

/** The largest frame either end accepts; a batch is cut into frames below it. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** A batch larger than this goes out in several frames, in order. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** Entry data and forwarded transactions this large are written from their own buffers, not copied into a batch's. */
const GATHER_MIN_BYTES = 4096;
/** Unsent bytes queued on a peer connection above which new batches are dropped (Raft resends them). */
const MAX_UNSENT_BYTES = 64 * 1024 * 1024;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Received snapshot chunks held before the connection stops reading. */
const SNAPSHOT_CHUNKS_AHEAD = 8;
/** A snapshot connection idle this long (no bytes either way) is given up. */
const SNAPSHOT_IDLE_MS = 5 * 60 * 1000;
/** An inbound peer connection that carries nothing for this long is closed (the sender reconnects). */
const INBOUND_IDLE_MS = 60_000;
/** A failed dial is retried after this long, or as soon as the peer's own batch shows it is up. */
const RETRY_MS = 200;
const PING_INTERVAL_MS = 1000;
const KEEPALIVE_MS = 10_000;
/** A peer that has not answered a ping for this long gets a fresh connection (and name lookup). */
const SILENT_MS = 5000;

const replyCodec = codec<PeerReply, PeerReply__Output>('conclave.raft.v1.PeerReply');
const offerCodec = codec<SnapshotOffer, SnapshotOffer__Output>('conclave.raft.v1.SnapshotOffer');

export interface PeerTransportOptions {
  id: number;
  clusterId: () => string;
  /** this member's peer address as the others should dial it */
  selfAddress: () => string;
  host: string;
  port: number;
  logger: Logger;
  /** Unsent bytes queued on one peer connection above which new batches are dropped (default 64 MiB). */
  maxUnsentBytes?: number;
  /** How long after a failed dial a peer is dialled again (default RETRY_MS) */
  retryMs?: number;
}

interface PeerStats {
  sentBytes: number;
  receivedBytes: number;
  rttSeconds: number;
}

/** `host:port`, `[v6 address]:port`. */
export function parsePeerAddress(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

function connect(address: string): net.Socket | undefined {
  const target = parsePeerAddress(address);
  if (target === undefined) return undefined;
  return net.connect({ host: target.host, port: target.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
}

/**
 * A batch encoded into frames (room for each frame's header left at its start): one, or several in
 * order when it is too large for one.
 */
function encodeBatch(batch: PeerBatchData): Uint8Array[][] {
  const whole = encodePeerBatchPieces(batch, FRAME_HEADER_BYTES, GATHER_MIN_BYTES);
  if (piecesLength(whole) <= MAX_BATCH_BYTES + FRAME_HEADER_BYTES) return [whole];
  const { messages, touchedSessions, forwards, rejections, ...header } = batch;
  const none = { messages: [], touchedSessions: [], forwards: [], rejections: [] };
  const parts: PeerBatchData[] = [];
  for (const part of splitFrames(messages, MAX_BATCH_BYTES)) parts.push({ ...header, ...none, messages: part });
  for (const part of splitFrames(forwards, MAX_BATCH_BYTES)) parts.push({ ...header, ...none, forwards: part });
  parts.push({ ...header, ...none, touchedSessions, rejections });
  return parts.map((part) => encodePeerBatchPieces(part, FRAME_HEADER_BYTES, GATHER_MIN_BYTES));
}

class PeerLink {
  socket: net.Socket | undefined;
  pending: PeerBatchData | undefined;
  retryAt = 0;
  lastPing = 0;
  /** When the current connection was opened and when it last carried a reply (ms). */
  openedAt = 0;
  lastReply = 0;
  /** The current connection was established (not just dialled). */
  established = false;
  /** Forwarded writes queued on the connection while it was still dialling: unsent if the dial fails. */
  forwardsInDial: ForwardedTxn[] = [];

  constructor(readonly id: number, readonly address: string) {}

  /** Drops the connection; the next batch opens a new one (resolving the peer's name again). */
  reset(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  close(): void {
    this.socket?.end();
    this.socket = undefined;
  }
}

export class PeerTransport implements Transport {
  private server: net.Server | undefined;
  private readonly inbound = new Set<net.Socket>();
  private handlers: PeerHandlers | undefined;
  private readonly links = new Map<number, PeerLink>();
  private readonly stats = new Map<number, PeerStats>();
  private flushScheduled = false;
  private stopped = false;
  boundPort = 0;

  constructor(private readonly options: PeerTransportOptions) {}

  async start(handlers: PeerHandlers): Promise<void> {
    this.handlers = handlers;
    const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.options.logger.error({ err: error }, 'peer listener failed'));
    this.boundPort = (server.address() as net.AddressInfo).port;
  }

  setPeers(peers: ReadonlyMap<number, string>): void {
    for (const [id, link] of this.links) {
      if (peers.get(id) !== link.address) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const [id, address] of peers) {
      if (this.links.has(id) || address === '') continue;
      if (parsePeerAddress(address) === undefined) {
        this.options.logger.error({ peer: id, address }, 'peer address is not host:port; cannot reach this peer');
        continue;
      }
      this.links.set(id, new PeerLink(id, address));
    }
  }

  send(messages: Message[]): void {
    for (const m of messages) this.batchFor(m.to)?.messages.push(m);
  }

  sendTouches(to: number, sessionIds: number[]): void {
    this.batchFor(to)?.touchedSessions.push(...sessionIds);
  }

  forward(to: number, forwards: ForwardedTxn[]): void {
    const batch = this.batchFor(to);
    if (batch === undefined) return this.unsent(to, forwards, this.stopped ? 'this member is stopping' : `member ${to} is unknown here`);
    batch.forwards.push(...forwards);
  }

  reject(to: number, rejections: ForwardRejection[]): void {
    const batch = this.batchFor(to);
    if (batch === undefined) return;
    batch.rejections.push(...rejections);
  }

  sendSnapshot(message: Message, open: () => AsyncIterable<Uint8Array>, done: (ok: boolean) => void): void {
    const link = this.links.get(message.to);
    const socket = link && !this.stopped ? connect(link.address) : undefined;
    if (socket === undefined) return done(false);
    new SnapshotSender(socket, this.options.logger, message.to, (reply) => {
      if (reply && reply.refusal !== 'NONE') this.refused(message.to, reply);
      done(reply?.refusal === 'NONE');
    }).send(
      { clusterId: this.options.clusterId(), from: this.options.id, to: message.to, message: toWire(message) },
      open,
      (bytes) => (this.stat(message.to).sentBytes += bytes),
    );
  }

  peerStats(): { id: number; rttSeconds: number; sentBytes: number; receivedBytes: number }[] {
    return [...this.stats].map(([id, s]) => ({ id, ...s }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Nothing left to deliver matters now, and a connection still dialling an unreachable peer
    // must not keep the process alive.
    for (const link of this.links.values()) link.reset();
    this.links.clear();
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.inbound) socket.destroy();
    await closed;
  }

  // ------------------------------------------------------------------ outbound

  private batchFor(to: number): PeerBatchData | undefined {
    const link = this.links.get(to);
    if (link === undefined || this.stopped) return undefined;
    link.pending ??= {
      clusterId: this.options.clusterId(),
      from: this.options.id,
      fromAddress: this.options.selfAddress(),
      to,
      pingMs: 0,
      messages: [],
      touchedSessions: [],
      forwards: [],
      rejections: [],
    };
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return link.pending;
  }

  /**
   * Sends every peer an empty batch. A starting member does, so that a peer whose dials to it failed
   * while it was down (or not started yet: a member joining) dials it again at once instead of after
   * the retry pause; that peer may be the leader, with the log or snapshot this member waits for.
   */
  greet(): void {
    for (const id of this.links.keys()) this.batchFor(id);
  }

  /** Writes every peer's pending batch now (otherwise at the end of this turn of the event loop). */
  flush(): void {
    this.flushScheduled = false;
    const now = Date.now();
    for (const link of this.links.values()) {
      const batch = link.pending;
      if (batch === undefined) continue;
      link.pending = undefined;
      if (link.socket !== undefined && now - Math.max(link.openedAt, link.lastReply) > SILENT_MS) {
        this.options.logger.debug({ peer: link.id }, 'peer silent: reconnecting');
        link.reset();
      }
      const socket = this.connectionTo(link, now);
      if (socket === undefined) {
        this.unsent(link.id, batch.forwards, `no connection to member ${link.id}`);
        continue;
      }
      if (socket.writableLength > (this.options.maxUnsentBytes ?? MAX_UNSENT_BYTES)) {
        this.options.logger.debug({ peer: link.id, unsent: socket.writableLength }, 'peer connection backed up: batch dropped');
        this.unsent(link.id, batch.forwards, `the connection to member ${link.id} is backed up`);
        continue;
      }
      if (now - link.lastPing >= PING_INTERVAL_MS) {
        batch.pingMs = now;
        link.lastPing = now;
      }
      const stats = this.stat(link.id);
      for (const frame of encodeBatch(batch)) {
        stats.sentBytes += piecesLength(frame);
        writeFrameInPlace(socket, FrameKind.Batch, frame);
      }
      if (!link.established) link.forwardsInDial.push(...batch.forwards);
    }
  }

  /**
   * Forwarded writes that never left this member were certainly not applied: the node fails them at
   * once (the client may retry them) instead of letting them wait for their deadline. Told on a later
   * turn, so the node never hears of them in the middle of the call that sent them.
   */
  private unsent(to: number, forwards: readonly ForwardedTxn[], reason: string): void {
    if (forwards.length === 0) return;
    const rejections = forwards.map((f) => ({ originSeq: f.originSeq, code: 'UNAVAILABLE' as ErrorCode, message: reason }));
    queueMicrotask(() => this.handlers?.onRejections(to, rejections));
  }

  private connectionTo(link: PeerLink, now: number): net.Socket | undefined {
    if (link.socket !== undefined) return link.socket;
    if (now < link.retryAt) return undefined;
    const socket = connect(link.address);
    if (socket === undefined) return undefined;
    link.socket = socket;
    link.openedAt = now;
    link.established = false;
    link.forwardsInDial = [];
    socket.once('connect', () => {
      if (link.socket !== socket) return;
      link.established = true;
      link.forwardsInDial = [];
    });
    const reader = new FrameReader(MAX_FRAME_BYTES);
    const broken = (reason: string) => {
      socket.destroy();
      if (link.socket !== socket) return;
      link.socket = undefined;
      this.options.logger.debug({ peer: link.id, reason }, 'peer connection closed');
      if (!link.established) {
        this.unsent(link.id, link.forwardsInDial, `cannot connect to member ${link.id} (${reason})`);
        link.forwardsInDial = [];
      }
      // A connection that worked and then broke (the peer restarted, a middlebox reset it) is dialled
      // again with the next batch: the peer's election timer runs meanwhile. Only failed dials back off.
      const lived = Date.now() - link.openedAt;
      const retryMs = this.options.retryMs ?? RETRY_MS;
      link.retryAt = link.established && lived >= retryMs ? 0 : Date.now() + retryMs;
    };
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.read(chunk, broken)) {
        const reply = frame.kind === FrameKind.Reply ? decodeOrUndefined(replyCodec, frame.payload) : undefined;
        if (reply === undefined) return broken(`unexpected frame of kind ${frame.kind} from a peer`);
        this.stat(link.id).receivedBytes += frame.payload.length + FRAME_HEADER_BYTES;
        link.lastReply = Date.now();
        if (reply.echoMs > 0) this.stat(link.id).rttSeconds = (Date.now() - reply.echoMs) / 1000;
        if (reply.refusal !== 'NONE') this.refused(link.id, reply);
      }
    });
    socket.on('error', (error) => broken(error.message));
    socket.on('close', () => broken('closed'));
    return socket;
  }

  private refused(peer: number, reply: PeerReply__Output): void {
    this.options.logger.error({ peer, refusal: reply.refusal, reason: reply.message }, 'refused by peer');
    this.handlers?.onRefused(peer, reply.refusal as Refusal, reply.message);
  }

  // ------------------------------------------------------------------ inbound

  /** A connection from a peer: a stream of batches, or one snapshot transfer (told by its first frame). */
  private accept(socket: net.Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    const reader = new FrameReader(MAX_FRAME_BYTES);
    const strings = new PeerBatchStrings();
    // Whoever sends batches on this connection; told to the node when it closes, however it closes.
    let from = 0;
    let refused = false;
    let snapshot: SnapshotReceiver | undefined;
    const close = (reason: string) => {
      if (!this.inbound.delete(socket)) return;
      socket.destroy();
      snapshot?.abort(reason);
      if (from !== 0 && !this.stopped) this.handlers?.onDisconnected(from);
    };
    const protocolError = (reason: string) => {
      this.options.logger.warn({ peer: from || undefined, remote: socket.remoteAddress, reason }, 'bad peer connection: closed');
      close(reason);
    };
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      for (const frame of reader.read(chunk, protocolError)) {
        if (!this.inbound.has(socket)) return;
        if (frame.kind === FrameKind.Batch && snapshot === undefined) {
          let batch: DecodedPeerBatch;
          try {
            batch = decodePeerBatch(frame.payload, strings);
          } catch (error) {
            return protocolError((error as Error).message);
          }
          from ||= batch.from;
          try {
            if (!this.receive(socket, batch, frame.payload.length + FRAME_HEADER_BYTES)) return void (refused = true);
          } catch (error) {
            // A handler's failure must never take the member down with it.
            this.options.logger.error({ err: error, peer: batch.from }, 'failed to handle a peer batch');
          }
        } else if (frame.kind >= FrameKind.SnapshotOffer && from === 0) {
          if (snapshot === undefined) socket.setTimeout(SNAPSHOT_IDLE_MS);
          snapshot ??= new SnapshotReceiver(socket, this.handlers!, this.options.logger, (peer, bytes) => (this.stat(peer).receivedBytes += bytes));
          const error = snapshot.frame(frame);
          if (error) return protocolError(error);
        } else {
          return protocolError(`unexpected frame of kind ${frame.kind}`);
        }
      }
    });
    socket.setTimeout(INBOUND_IDLE_MS);
    socket.on('timeout', () => close('idle'));
    socket.on('error', (error) => close(error.message));
    socket.on('close', () => close('closed'));
  }

  /** Hands a batch to the node; false if its sender was refused (the connection is ending). */
  private receive(socket: net.Socket, batch: DecodedPeerBatch, bytes: number): boolean {
    const handlers = this.handlers!;
    const refusal = handlers.admit(batch.from, batch.clusterId);
    if (refusal) {
      writeFrame(socket, FrameKind.Reply, replyCodec.encode({ refusal: refusal.refusal, message: refusal.message }));
      socket.end();
      return false;
    }
    this.stat(batch.from).receivedBytes += bytes;
    // The peer is up: if dialling it failed before, the next batch to it dials at once (greet).
    const link = this.links.get(batch.from);
    if (link !== undefined && link.socket === undefined) link.retryAt = 0;
    if (batch.pingMs > 0) writeFrame(socket, FrameKind.Reply, replyCodec.encode({ refusal: 'NONE', echoMs: batch.pingMs }));
    if (batch.fromAddress !== '' && link?.address !== batch.fromAddress) handlers.onPeerAddress(batch.from, batch.fromAddress);
    if (batch.unknownMessages > 0) this.options.logger.warn({ peer: batch.from, count: batch.unknownMessages }, 'raft messages of an unknown type: dropped');
    if (batch.messages.length > 0) handlers.onMessages(batch.from, batch.messages);
    if (batch.touchedSessions.length > 0) handlers.onTouches(batch.from, batch.touchedSessions);
    if (batch.forwards.length > 0) handlers.onForwards(batch.from, batch.forwards);
    if (batch.rejections.length > 0) handlers.onRejections(batch.from, batch.rejections);
    return true;
  }

  private stat(id: number): PeerStats {
    let s = this.stats.get(id);
    if (s === undefined) this.stats.set(id, (s = { sentBytes: 0, receivedBytes: 0, rttSeconds: 0 }));
    return s;
  }
}

function decodeOrUndefined<T>(c: { decode(bytes: Uint8Array): T }, bytes: Uint8Array): T | undefined {
  try {
    return c.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Streams one snapshot file on its own connection and waits for the receiver's one reply. */
class SnapshotSender {
  private finished = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly logger: Logger,
    private readonly peer: number,
    private readonly onDone: (reply: PeerReply__Output | undefined) => void,
  ) {
    const reader = new FrameReader(MAX_FRAME_BYTES);
    socket.setTimeout(SNAPSHOT_IDLE_MS, () => this.finish(undefined, 'idle for too long'));
    socket.on('data', (chunk: Buffer) => {
      const reply = reader.read(chunk, (reason) => this.finish(undefined, reason)).find((f) => f.kind === FrameKind.Reply);
      if (reply === undefined) return;
      const answer = decodeOrUndefined(replyCodec, reply.payload);
      this.finish(answer, answer ? undefined : 'the receiver\'s reply does not decode');
    });
    socket.on('error', (error) => this.finish(undefined, error.message));
    socket.on('close', () => this.finish(undefined, 'connection closed before the receiver answered'));
  }

  send(header: SnapshotOffer, open: () => AsyncIterable<Uint8Array>, count: (bytes: number) => void): void {
    void (async () => {
      try {
        await this.write(FrameKind.SnapshotOffer, offerCodec.encode(header), count);
        for await (const chunk of open()) {
          for (let at = 0; at < chunk.length; at += SNAPSHOT_CHUNK_BYTES) {
            // Given up (the receiver answered, failed or went away): stop reading the file.
            if (this.finished) return;
            await this.write(FrameKind.SnapshotData, chunk.subarray(at, at + SNAPSHOT_CHUNK_BYTES), count);
          }
        }
        await this.write(FrameKind.SnapshotEnd, new Uint8Array(0), count);
      } catch (error) {
        this.finish(undefined, `cannot read snapshot to send: ${(error as Error).message}`);
      }
    })();
  }

  private async write(kind: FrameKind, payload: Uint8Array, count: (bytes: number) => void): Promise<void> {
    if (this.finished) return;
    count(payload.length + FRAME_HEADER_BYTES);
    if (writeFrame(this.socket, kind, payload)) return;
    await new Promise<void>((resolve) => {
      const go = () => {
        this.socket.off('drain', go);
        this.socket.off('close', go);
        resolve();
      };
      this.socket.on('drain', go);
      this.socket.on('close', go);
    });
  }

  private finish(reply: PeerReply__Output | undefined, failure?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (failure) this.logger.warn({ peer: this.peer, err: failure }, 'snapshot transfer failed');
    this.socket.destroy();
    this.onDone(reply);
  }
}

/**
 * The receiving end of a snapshot transfer: hands the chunks to the node as they arrive (reading
 * stops while SNAPSHOT_CHUNKS_AHEAD are waiting), answers once the node has stored and stepped it.
 */
class SnapshotReceiver {
  private header: SnapshotOffer__Output | undefined;
  private admitted = false;
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly handlers: PeerHandlers,
    private readonly logger: Logger,
    private readonly count: (peer: number, bytes: number) => void,
  ) {}

  /** Takes one frame; returns what is wrong with it, if anything. */
  frame(frame: Frame): string | undefined {
    if (this.ended) return 'a frame after the end of a snapshot';
    if (frame.kind === FrameKind.SnapshotOffer) {
      if (this.header !== undefined) return 'a second snapshot header';
      const header = decodeOrUndefined(offerCodec, frame.payload);
      if (header?.message == null) return 'undecodable snapshot header';
      this.header = header;
      this.start(header);
    } else if (this.header === undefined) {
      return 'snapshot data without its header';
    } else if (frame.kind === FrameKind.SnapshotEnd) {
      this.ended = true;
      // The sender now waits, without a byte either way, while the node stores the snapshot.
      this.socket.setTimeout(0);
    } else {
      if (this.admitted) this.count(this.header.from, frame.payload.length + FRAME_HEADER_BYTES);
      this.chunks.push(frame.payload);
      if (this.chunks.length >= SNAPSHOT_CHUNKS_AHEAD) this.socket.pause();
    }
    this.wake?.();
    return undefined;
  }

  abort(reason: string): void {
    if (this.ended) return;
    this.failure ??= new Error(`snapshot transfer cut off: ${reason}`);
    this.wake?.();
  }

  private start(header: SnapshotOffer__Output): void {
    const refusal = this.handlers.admit(header.from, header.clusterId);
    if (refusal) {
      this.reply({ refusal: refusal.refusal, message: refusal.message });
      return;
    }
    this.admitted = true;
    const chunks: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({ next: () => this.next() }),
    };
    void (async () => {
      try {
        await this.handlers.onSnapshot(header.from, fromWire(header.message!), chunks);
        this.reply({ refusal: 'NONE' });
      } catch (error) {
        this.logger.warn({ peer: header.from, err: error }, 'snapshot receive failed');
        this.socket.destroy();
      }
    })();
  }

  private async next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        if (this.chunks.length < SNAPSHOT_CHUNKS_AHEAD) this.socket.resume();
        return { done: false, value: chunk };
      }
      if (this.ended) return { done: true, value: undefined };
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private reply(reply: PeerReply): void {
    writeFrame(this.socket, FrameKind.Reply, replyCodec.encode(reply));
    this.socket.end();
  }
}
