/**
 * Process-wide gRPC channels, one per endpoint, shared by every session and unary client of the
 * process and closed a few seconds after the last one lets go. A session that opens and closes in
 * a loop then pays for its stream only: building a channel (resolver, load balancer, subchannel
 * lookup) took about a fifth of the client's CPU in that loop, and its HTTP/2 connection was
 * dropped with it when no other session used the member. grpc-js unreferences idle connections, so
 * a lingering channel does not keep a process alive.
 */
import * as grpc from '@grpc/grpc-js';
import { CLIENT_FLOW_CONTROL } from '@conclave/proto';
import { isIPv4, isIPv6 } from 'node:net';

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
  ...CLIENT_FLOW_CONTROL,
};

/** How long a channel nobody uses stays open for the next user. */
const CHANNEL_LINGER_MS = 5_000;

interface PooledChannel {
  channel: grpc.Channel;
  users: number;
  closeTimer: NodeJS.Timeout | undefined;
}

const pool = new Map<string, PooledChannel>();

/**
 * The grpc-js target for a "host:port" endpoint. IP literals go to grpc-js's ip resolver ("ipv4:",
 * "ipv6:"), which resolves nothing; its default dns resolver builds a c-ares resolver for every
 * channel even when the host is an IP. Host names stay with the dns resolver.
 */
export function grpcTarget(endpoint: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(endpoint);
  if (bracketed && isIPv6(bracketed[1]!)) return `ipv6:${endpoint}`;
  const colon = endpoint.lastIndexOf(':');
  if (colon > 0 && isIPv4(endpoint.slice(0, colon))) return `ipv4:${endpoint}`;
  return endpoint;
}

/** The shared channel to `endpoint`, for `channelOverride`; give it back with releaseChannel. */
export function acquireChannel(endpoint: string): grpc.Channel {
  let pooled = pool.get(endpoint);
  if (pooled === undefined) {
    const channel = new grpc.Channel(grpcTarget(endpoint), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    pooled = { channel, users: 0, closeTimer: undefined };
    pool.set(endpoint, pooled);
  }
  clearTimeout(pooled.closeTimer);
  pooled.closeTimer = undefined;
  pooled.users++;
  return pooled.channel;
}

/** One user of `endpoint`'s channel is done with it; the last one starts the linger. */
export function releaseChannel(endpoint: string): void {
  const pooled = pool.get(endpoint);
  if (pooled === undefined || pooled.users === 0) return;
  if (--pooled.users > 0) return;
  pooled.closeTimer = setTimeout(() => {
    if (pool.get(endpoint) !== pooled || pooled.users > 0) return;
    pool.delete(endpoint);
    pooled.channel.close();
  }, CHANNEL_LINGER_MS);
  pooled.closeTimer.unref();
}

/** Endpoints with an open channel and how many users each has (tests, diagnostics). */
export function pooledChannels(): Map<string, number> {
  return new Map([...pool].map(([endpoint, pooled]) => [endpoint, pooled.users]));
}
