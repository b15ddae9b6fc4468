/**
 * The network between members, over gRPC on the peer port: one long-lived stream per (sender,
 * receiver) carrying batches of Raft messages, session touches and forwarded writes, and a separate
 * streaming call per snapshot transfer. Every batch carries the cluster id; a receiver refuses other
 * clusters and removed members, and tells them why. Messages to an unreachable peer are dropped
 * (Raft retries); the channel reconnects by itself, DNS lookups included.
 */
import * as grpc from '@grpc/grpc-js';
import { CLIENT_FLOW_CONTROL, estimateSize, loadRaftApi, splitFrames, widenServerWindows } from '@conclave/proto';
import type { PeerBatch, PeerBatch__Output } from '@conclave/proto/gen/conclave/raft/v1/PeerBatch.js';
import type { PeerReply, PeerReply__Output } from '@conclave/proto/gen/conclave/raft/v1/PeerReply.js';
import type { PeerClient } from '@conclave/proto/gen/conclave/raft/v1/Peer.js';
import type { SnapshotPart, SnapshotPart__Output } from '@conclave/proto/gen/conclave/raft/v1/SnapshotPart.js';
import type { Logger } from '../logger.js';
import { shutdownGrpcServer } from '../grpc-shutdown.js';
import type { Message } from '../raft/types.js';
import type { ErrorCode } from '../errors.js';
import { approximateSize, fromWire, toWire } from './convert.js';
import type { ForwardRejection, ForwardedTxn, PeerHandlers, Refusal, Transport } from './transport.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** A batch larger than this (estimated) goes out in several stream messages, in order. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
const RETRY_MS = 200;
const PING_INTERVAL_MS = 1000;
/** A peer that has not answered a ping for this long gets a fresh channel (and name resolution). */
const SILENT_MS = 5000;

export interface PeerTransportOptions {
  id: number;
  clusterId: () => string;
  /** this member's peer address as the others should dial it */
  selfAddress: () => string;
  host: string;
  port: number;
  logger: Logger;
}

interface PeerStats {
  sentBytes: number;
  receivedBytes: number;
  rttSeconds: number;
}

class PeerLink {
  client: PeerClient;
  stream: grpc.ClientDuplexStream<PeerBatch, PeerReply__Output> | undefined;
  pending: PeerBatch | undefined;
  retryAt = 0;
  lastPing = 0;
  /** When the current stream was opened and when it last carried a reply (ms). */
  openedAt = 0;
  lastReply = 0;

  constructor(readonly id: number, readonly address: string) {
    this.client = PeerLink.connect(address);
  }

  private static connect(address: string): PeerClient {
    return new (loadRaftApi().conclave.raft.v1.Peer)(address, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.keepalive_time_ms': 10_000,
      ...CLIENT_FLOW_CONTROL,
    });
  }

  /**
   * A new channel, so the peer's name is resolved again: a peer that restarted elsewhere (a
   * Kubernetes pod gets a new IP) is otherwise still dialled at its old address, which may hang.
   */
  reset(): void {
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
    this.client = PeerLink.connect(this.address);
  }

  close(): void {
    this.stream?.end();
    this.stream = undefined;
    this.client.close();
  }
}

export class PeerTransport implements Transport {
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  private handlers: PeerHandlers | undefined;
  private readonly links = new Map<number, PeerLink>();
  private readonly stats = new Map<number, PeerStats>();
  private flushScheduled = false;
  private stopped = false;
  boundPort = 0;

  constructor(private readonly options: PeerTransportOptions) {}

  async start(handlers: PeerHandlers): Promise<void> {
    this.handlers = handlers;
    this.server.addService(loadRaftApi().conclave.raft.v1.Peer.service, {
      Stream: (call: grpc.ServerDuplexStream<PeerBatch__Output, PeerReply>) => this.serveStream(call),
      InstallSnapshot: (call: grpc.ServerReadableStream<SnapshotPart__Output, PeerReply>, callback: grpc.sendUnaryData<PeerReply>) =>
        this.serveSnapshot(call, callback),
    });
    widenServerWindows(this.server);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${this.options.host}:${this.options.port}`, grpc.ServerCredentials.createInsecure(), (e, port) =>
        e ? reject(e) : resolve(port),
      ),
    );
    widenServerWindows(this.server);
  }

  setPeers(peers: ReadonlyMap<number, string>): void {
    for (const [id, link] of this.links) {
      if (peers.get(id) !== link.address) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const [id, address] of peers) {
      if (!this.links.has(id) && address !== '') this.links.set(id, new PeerLink(id, address));
    }
  }

  send(messages: Message[]): void {
    for (const m of messages) {
      const batch = this.batchFor(m.to);
      if (batch === undefined) continue;
      batch.messages!.push(toWire(m));
      this.stat(m.to).sentBytes += approximateSize(m);
    }
  }

  sendTouches(to: number, sessionIds: number[]): void {
    this.batchFor(to)?.touchedSessions!.push(...sessionIds);
  }

  forward(to: number, forwards: ForwardedTxn[]): void {
    const batch = this.batchFor(to);
    if (batch === undefined) return;
    for (const f of forwards) {
      batch.forwards!.push({ originSeq: f.originSeq, txn: f.txn as Buffer });
      this.stat(to).sentBytes += f.txn.length + 16;
    }
  }

  reject(to: number, rejections: ForwardRejection[]): void {
    const batch = this.batchFor(to);
    if (batch === undefined) return;
    for (const r of rejections) batch.rejections!.push({ originSeq: r.originSeq, error: { code: r.code, message: r.message, path: '', opIndex: -1 } });
  }

  sendSnapshot(message: Message, open: () => AsyncIterable<Uint8Array>, done: (ok: boolean) => void): void {
    const link = this.links.get(message.to);
    if (link === undefined) return done(false);
    const logger = this.options.logger;
    const call = link.client.InstallSnapshot((error, reply) => {
      if (error) logger.warn({ peer: message.to, err: error.message }, 'snapshot transfer failed');
      else if (reply && reply.refusal !== 'NONE') this.refused(message.to, reply);
      done(!error && (reply?.refusal ?? 'NONE') === 'NONE');
    });
    void (async () => {
      try {
        const header: SnapshotPart = { clusterId: this.options.clusterId(), from: this.options.id, to: message.to, message: toWire(message) };
        call.write(header);
        for await (const chunk of open()) {
          for (let at = 0; at < chunk.length; at += SNAPSHOT_CHUNK_BYTES) {
            const part = chunk.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
            this.stat(message.to).sentBytes += part.length;
            if (!call.write({ data: part as Buffer })) await new Promise((r) => call.once('drain', r));
          }
        }
        call.end();
      } catch (error) {
        logger.warn({ peer: message.to, err: error }, 'cannot read snapshot to send');
        call.cancel();
      }
    })();
  }

  peerStats(): { id: number; rttSeconds: number; sentBytes: number; receivedBytes: number }[] {
    return [...this.stats].map(([id, s]) => ({ id, ...s }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    await shutdownGrpcServer(this.server, 1000);
  }

  // ------------------------------------------------------------------ outbound

  private batchFor(to: number): PeerBatch | undefined {
    const link = this.links.get(to);
    if (link === undefined || this.stopped) return undefined;
    link.pending ??= {
      clusterId: this.options.clusterId(),
      from: this.options.id,
      fromAddress: this.options.selfAddress(),
      to,
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

  /** Writes every peer's pending batch now (otherwise at the end of this turn of the event loop). */
  flush(): void {
    this.flushScheduled = false;
    const now = Date.now();
    for (const link of this.links.values()) {
      const batch = link.pending;
      if (batch === undefined) continue;
      link.pending = undefined;
      if (link.stream !== undefined && now - Math.max(link.openedAt, link.lastReply) > SILENT_MS) {
        this.options.logger.debug({ peer: link.id }, 'peer silent: reconnecting');
        link.reset();
      }
      const stream = this.streamTo(link, now);
      if (stream === undefined) continue;
      if (now - link.lastPing >= PING_INTERVAL_MS) {
        batch.pingMs = now;
        link.lastPing = now;
      }
      if (estimateSize(batch) <= MAX_BATCH_BYTES) {
        stream.write(batch);
        continue;
      }
      const { messages, touchedSessions, forwards, rejections, ...header } = batch;
      for (const part of splitFrames(messages ?? [], MAX_BATCH_BYTES)) stream.write({ ...header, messages: part });
      for (const part of splitFrames(forwards ?? [], MAX_BATCH_BYTES)) stream.write({ ...header, forwards: part });
      stream.write({ ...header, touchedSessions, rejections });
    }
  }

  private streamTo(link: PeerLink, now: number): grpc.ClientDuplexStream<PeerBatch, PeerReply__Output> | undefined {
    if (link.stream !== undefined) return link.stream;
    if (now < link.retryAt) return undefined;
    const stream = link.client.Stream();
    link.stream = stream;
    link.openedAt = now;
    const broken = (reason: string) => {
      if (link.stream !== stream) return;
      link.stream = undefined;
      link.retryAt = Date.now() + RETRY_MS;
      this.options.logger.debug({ peer: link.id, reason }, 'peer stream closed');
    };
    stream.on('data', (reply: PeerReply__Output) => {
      link.lastReply = Date.now();
      if (reply.echoMs > 0) this.stat(link.id).rttSeconds = (Date.now() - reply.echoMs) / 1000;
      if (reply.refusal !== 'NONE') this.refused(link.id, reply);
    });
    stream.on('error', (error: grpc.ServiceError) => broken(error.details || error.message));
    stream.on('end', () => broken('ended'));
    return stream;
  }

  private refused(peer: number, reply: PeerReply__Output): void {
    this.options.logger.error({ peer, refusal: reply.refusal, reason: reply.message }, 'refused by peer');
    this.handlers?.onRefused(peer, reply.refusal as Refusal, reply.message);
  }

  // ------------------------------------------------------------------ inbound

  private serveStream(call: grpc.ServerDuplexStream<PeerBatch__Output, PeerReply>): void {
    // Whoever sends on this stream; told to the node when the stream closes, however it closes.
    let from = 0;
    let closed = false;
    const disconnected = () => {
      if (closed) return;
      closed = true;
      if (from !== 0 && !this.stopped) this.handlers?.onDisconnected(from);
    };
    call.on('data', (batch: PeerBatch__Output) => {
      from ||= batch.from;
      try {
        this.receive(call, batch);
      } catch (error) {
        // A handler's failure must never take the member down with it.
        this.options.logger.error({ err: error, peer: batch.from }, 'failed to handle a peer batch');
      }
    });
    call.on('end', () => {
      call.end();
      disconnected();
    });
    call.on('error', disconnected);
    call.on('cancelled', disconnected);
    call.on('close', disconnected);
  }

  private receive(call: grpc.ServerDuplexStream<PeerBatch__Output, PeerReply>, batch: PeerBatch__Output): void {
    const handlers = this.handlers!;
    const refusal = handlers.admit(batch.from, batch.clusterId);
    if (refusal) {
      call.write({ refusal: refusal.refusal, message: refusal.message });
      call.end();
      return;
    }
    if (batch.pingMs > 0) call.write({ refusal: 'NONE', echoMs: batch.pingMs });
    if (batch.fromAddress !== '' && this.links.get(batch.from)?.address !== batch.fromAddress) handlers.onPeerAddress(batch.from, batch.fromAddress);
    const stats = this.stat(batch.from);
    if (batch.messages.length > 0) {
      const messages: Message[] = [];
      for (const wire of batch.messages) {
        try {
          const m = fromWire(wire);
          stats.receivedBytes += approximateSize(m);
          messages.push(m);
        } catch (error) {
          this.options.logger.warn({ peer: batch.from, err: error }, 'malformed raft message');
        }
      }
      handlers.onMessages(batch.from, messages);
    }
    if (batch.touchedSessions.length > 0) handlers.onTouches(batch.from, batch.touchedSessions);
    if (batch.forwards.length > 0) {
      handlers.onForwards(batch.from, batch.forwards.map((f) => ({ originSeq: f.originSeq, txn: f.txn })));
    }
    if (batch.rejections.length > 0) {
      handlers.onRejections(
        batch.from,
        batch.rejections.map((r) => ({ originSeq: r.originSeq, code: (r.error?.code ?? 'UNAVAILABLE') as ErrorCode, message: r.error?.message ?? '' })),
      );
    }
  }

  private serveSnapshot(call: grpc.ServerReadableStream<SnapshotPart__Output, PeerReply>, callback: grpc.sendUnaryData<PeerReply>): void {
    const handlers = this.handlers!;
    const iterator = call[Symbol.asyncIterator]() as AsyncIterator<SnapshotPart__Output>;
    void (async () => {
      try {
        const first = await iterator.next();
        if (first.done || !first.value.message) throw new Error('snapshot transfer without its header');
        const header = first.value;
        const refusal = handlers.admit(header.from, header.clusterId);
        if (refusal) return callback(null, { refusal: refusal.refusal, message: refusal.message });
        const stats = this.stat(header.from);
        const chunks: AsyncIterable<Uint8Array> = {
          [Symbol.asyncIterator]: () => ({
            next: async () => {
              const part = await iterator.next();
              if (part.done) return { done: true, value: undefined };
              stats.receivedBytes += part.value.data.length;
              return { done: false, value: part.value.data };
            },
          }),
        };
        await handlers.onSnapshot(header.from, fromWire(header.message!), chunks);
        callback(null, { refusal: 'NONE' });
      } catch (error) {
        this.options.logger.warn({ err: error }, 'snapshot receive failed');
        callback({ code: grpc.status.INTERNAL, details: (error as Error).message } as grpc.ServiceError);
      }
    })();
  }

  private stat(id: number): PeerStats {
    let s = this.stats.get(id);
    if (s === undefined) this.stats.set(id, (s = { sentBytes: 0, receivedBytes: 0, rttSeconds: 0 }));
    return s;
  }
}
