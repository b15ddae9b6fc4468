/**
 * Leases in etcd's style (the Leases service): a lease is a session without a stream, kept alive by
 * KeepAlive messages; ephemeral nodes created with `leaseId` belong to it and go when it does.
 *
 *   const { id } = await client.leases.grant(10_000);
 *   const keeper = client.leases.keepAlive(id);          // renews every ttl/3, across members
 *   await client.create('/svc/a', 'addr', { kind: 'EPHEMERAL', leaseId: id });
 *   keeper.signal.addEventListener('abort', () => console.log('lease gone'));
 *   await client.leases.revoke(id);                       // the node goes with it
 */
import type * as grpc from '@grpc/grpc-js';
import { SessionExpiredError } from '@conclave/proto/errors';
import type { LeaseKeepAliveRequest } from '@conclave/proto/gen/conclave/v1/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse__Output } from '@conclave/proto/gen/conclave/v1/LeaseKeepAliveResponse.js';
import type { Channels } from './grpc.js';
import type { RequestOptions } from './types.js';

export interface LeaseGrant {
  id: number;
  /** the granted TTL (the server clamps the requested one to its session timeout bounds) */
  ttlMs: number;
}

export interface LeaseTimeToLive {
  id: number;
  grantedTtlMs: number;
  /** estimate; -1 when the lease does not exist */
  remainingMs: number;
  /** the ephemeral nodes it owns, when asked for */
  keys: string[];
}

export interface LeaseInfo {
  id: number;
  ttlMs: number;
  /** a client session rather than a lease granted by grant() */
  session: boolean;
}

export class Leases {
  constructor(private readonly channels: Channels) {}

  /** A new lease of `ttlMs` (clamped by the server). */
  async grant(ttlMs: number, options: RequestOptions = {}): Promise<LeaseGrant> {
    const r = await this.channels.call<{ id: number; ttlMs: number }>((s, o, done) => s.leases.Grant({ ttlMs }, o, done), options);
    return { id: r.id, ttlMs: r.ttlMs };
  }

  /** Ends a lease now: its ephemeral nodes are deleted. */
  async revoke(id: number, options: RequestOptions = {}): Promise<void> {
    await this.channels.call((s, o, done) => s.leases.Revoke({ id }, o, done), options);
  }

  async timeToLive(id: number, options: RequestOptions & { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    try {
      const r = await this.channels.call<LeaseTimeToLive>((s, o, done) => s.leases.TimeToLive({ id, keys: !!options.keys }, o, done), { ...options, idempotent: true });
      return { id: r.id, grantedTtlMs: r.grantedTtlMs, remainingMs: r.remainingMs, keys: r.keys };
    } catch (error) {
      if (error instanceof SessionExpiredError) return { id, grantedTtlMs: 0, remainingMs: -1, keys: [] };
      throw error;
    }
  }

  /** Every lease and session the cluster knows. */
  async list(options: RequestOptions = {}): Promise<LeaseInfo[]> {
    const r = await this.channels.call<{ leases: LeaseInfo[] }>((s, o, done) => s.leases.List({}, o, done), { ...options, idempotent: true });
    return r.leases.map((l) => ({ id: l.id, ttlMs: l.ttlMs, session: l.session }));
  }

  /** Keeps a lease alive until closed or until the cluster reports it gone. */
  keepAlive(id: number, options: { intervalMs?: number } = {}): LeaseKeepAlive {
    return new LeaseKeepAlive(this.channels, id, options.intervalMs);
  }
}

/**
 * Automatic renewal of one lease over a KeepAlive stream: a renewal every third of the TTL (or
 * `intervalMs`), moving to another member when the stream breaks. `signal` aborts (with a
 * SessionExpiredError) once a member answers that the lease no longer exists.
 */
export class LeaseKeepAlive {
  /** the TTL the cluster last reported */
  ttlMs = 0;
  /** when the cluster last confirmed a renewal (ms since the epoch; 0: not yet) */
  lastRenewed = 0;
  private readonly controller = new AbortController();
  private call: grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private attempt = 0;

  constructor(
    private readonly channels: Channels,
    readonly id: number,
    private readonly intervalMs: number | undefined,
  ) {
    this.open();
  }

  /** Aborted when the lease is gone. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops renewing (the lease then expires after its TTL unless revoked first). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.call?.end();
    this.call = undefined;
  }

  private open(): void {
    if (this.closed) return;
    // Renewals end with the client that made them.
    if (this.channels.closed) return this.close();
    const endpoints = this.channels.order();
    const endpoint = endpoints[this.attempt++ % endpoints.length]!;
    const call = this.channels.stubsFor(endpoint).leases.KeepAlive();
    this.call = call;
    call.on('data', (r: LeaseKeepAliveResponse__Output) => {
      if (r.ttlMs === 0) {
        this.controller.abort(new SessionExpiredError(`lease ${this.id} has expired or was revoked`));
        this.close();
        return;
      }
      const first = this.ttlMs === 0;
      this.ttlMs = r.ttlMs;
      this.lastRenewed = Date.now();
      // Now that the TTL is known, renew at its pace from here.
      if (first && this.intervalMs === undefined) this.schedule();
    });
    const broken = () => {
      if (this.call !== call || this.closed) return;
      this.call = undefined;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.open(), 100);
    };
    call.on('error', broken);
    call.on('end', broken);
    this.renew();
  }

  private renew(): void {
    if (this.closed || this.call === undefined) return;
    this.call.write({ id: this.id });
    this.schedule();
  }

  /** The next renewal: every third of the TTL (100 ms until the TTL is known). */
  private schedule(): void {
    const every = this.intervalMs ?? (this.ttlMs > 0 ? Math.max(50, Math.floor(this.ttlMs / 3)) : 100);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.renew(), every);
  }
}
