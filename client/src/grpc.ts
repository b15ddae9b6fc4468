/**
 * The unary side of the client: stubs on the process's channels to the members (channel-pool.ts),
 * calls with deadlines and AbortSignal, failover to the next endpoint when a member cannot be
 * reached, and gRPC status turned back into Conclave's typed errors (the server puts the code in
 * the `conclave-error` trailer).
 */
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi } from '@conclave/proto';
import { acquireChannel, releaseChannel } from './channel-pool.js';
import { type ConclaveError, errorFromCode, TimeoutError, UnavailableError, InternalError } from '@conclave/proto/errors';
import type { LeasesClient } from '@conclave/proto/gen/conclave/v1/Leases.js';
import type { ClusterClient } from '@conclave/proto/gen/conclave/v1/Cluster.js';
import type { RequestOptions } from './types.js';

/** grpc-js's transport details, without its boilerplate: "connect ECONNREFUSED 127.0.0.1:1". */
export function transportDetails(details: string | undefined): string {
  return (details ?? '')
    .replace(/\s*Resolution note:.*$/s, '')
    .replace(/^No connection established\. Last error: (Error: )?/, '')
    .replace(/\.$/, '') || 'unreachable';
}

/** A gRPC failure as a typed Conclave error. */
export function fromServiceError(error: grpc.ServiceError, endpoint: string): ConclaveError {
  const code = error.metadata?.get('conclave-error')[0];
  if (typeof code === 'string') {
    const path = error.metadata.get('conclave-path')[0];
    const opIndex = error.metadata.get('conclave-op-index')[0];
    return errorFromCode(code, error.details || error.message, {
      path: typeof path === 'string' ? path : undefined,
      opIndex: typeof opIndex === 'string' ? Number(opIndex) : undefined,
    });
  }
  switch (error.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new TimeoutError(`${endpoint}: no answer in time; the outcome is unknown`);
    case grpc.status.UNAVAILABLE:
      return new UnavailableError(`${endpoint}: ${transportDetails(error.details)}`);
    default:
      return new InternalError(`${endpoint}: ${error.details || error.message}`);
  }
}

/** True when the call never reached the member (so trying another one cannot apply it twice). */
function notConnected(error: grpc.ServiceError): boolean {
  return error.code === grpc.status.UNAVAILABLE && !error.metadata?.get('conclave-error').length && /No connection established|ECONNREFUSED|connect E/i.test(error.details ?? '');
}

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;

export interface Stubs {
  leases: LeasesClient;
  cluster: ClusterClient;
}

/**
 * Stubs for every endpoint, made on first use on the process's shared channel to it. Calls go to
 * the preferred endpoint (the session's member, if there is one) and move on to the others when it
 * cannot be reached.
 */
export class Channels {
  private readonly stubs = new Map<string, Stubs>();
  private next = 0;
  /** set by close(): no new channels after it */
  closed = false;

  constructor(
    readonly endpoints: string[],
    private readonly defaultTimeoutMs: number,
    private readonly preferred: () => string | undefined = () => undefined,
  ) {}

  stubsFor(endpoint: string): Stubs {
    if (this.closed) throw new UnavailableError('the client is closed');
    let stubs = this.stubs.get(endpoint);
    if (stubs === undefined) {
      const api = loadPublicApi().conclave.v1;
      const credentials = grpc.credentials.createInsecure();
      // The process-wide channel to the endpoint (channel-pool.ts), released by close().
      const channelOverride = acquireChannel(endpoint);
      const leases = new api.Leases(endpoint, credentials, { channelOverride });
      const cluster = new api.Cluster(endpoint, credentials, { channelOverride });
      stubs = { leases, cluster };
      this.stubs.set(endpoint, stubs);
    }
    return stubs;
  }

  /** The endpoints in the order to try them: the preferred one first, then round-robin. */
  order(): string[] {
    const first = this.preferred();
    const start = this.next++ % this.endpoints.length;
    const rotated = [...this.endpoints.slice(start), ...this.endpoints.slice(0, start)];
    return first && this.endpoints.includes(first) ? [first, ...rotated.filter((e) => e !== first)] : rotated;
  }

  /**
   * One unary call: on the given endpoint only, or on the first endpoint that can be reached.
   * `idempotent` calls also move on after other transport failures.
   */
  async call<T>(
    invoke: (stubs: Stubs, options: grpc.CallOptions, done: Callback<T>) => grpc.ClientUnaryCall,
    options: RequestOptions & { endpoint?: string; idempotent?: boolean } = {},
  ): Promise<T> {
    const targets = options.endpoint ? [options.endpoint] : this.order();
    let last: ConclaveError | undefined;
    for (const endpoint of targets) {
      try {
        return await this.once(endpoint, invoke, options);
      } catch (error) {
        const e = error as grpc.ServiceError & { conclave?: ConclaveError };
        if (e.conclave === undefined) throw error;
        last = e.conclave;
        const transport = e.code === grpc.status.UNAVAILABLE && !e.metadata?.get('conclave-error').length;
        if (!(notConnected(e) || (options.idempotent && transport))) throw last;
      }
    }
    throw last ?? new UnavailableError('no endpoints');
  }

  private once<T>(
    endpoint: string,
    invoke: (stubs: Stubs, options: grpc.CallOptions, done: Callback<T>) => grpc.ClientUnaryCall,
    options: RequestOptions,
  ): Promise<T> {
    const { signal } = options;
    signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = invoke(this.stubsFor(endpoint), timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {}, (error, value) => {
        signal?.removeEventListener('abort', onAbort);
        if (error === null) return resolve(value as T);
        if (signal?.aborted) return reject(signal.reason);
        reject(Object.assign(error, { conclave: fromServiceError(error, endpoint) }));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.closed = true;
    // The stubs' channel is the pool's: give it back rather than close it.
    for (const endpoint of this.stubs.keys()) releaseChannel(endpoint);
    this.stubs.clear();
  }
}
