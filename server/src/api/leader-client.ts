/**
 * Calls the leader's own client API for the few requests only the leader can answer (membership
 * changes, lease time-to-live): a client may ask any member.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi } from '@conclave/proto';
import type { ClusterClient } from '@conclave/proto/gen/conclave/v1/Cluster.js';
import type { LeasesClient } from '@conclave/proto/gen/conclave/v1/Leases.js';
import { ConclaveError, UnavailableError, type ErrorCode } from '../errors.js';
import type { ConclaveNode } from '../node.js';
import { ERROR_CODE_KEY } from './status.js';

export class LeaderClient {
  private clients = new Map<string, { cluster: ClusterClient; leases: LeasesClient }>();

  constructor(private readonly node: ConclaveNode) {}

  /** Runs `call` against the leader's Cluster and Leases services. */
  async call<T>(invoke: (c: { cluster: ClusterClient; leases: LeasesClient }, done: grpc.requestCallback<T>) => void): Promise<T> {
    const leader = this.node.fsm.cluster.members.get(this.node.leaderId);
    if (leader === undefined || leader.clientAddress === '') throw new UnavailableError('no leader known to forward to');
    let clients = this.clients.get(leader.clientAddress);
    if (clients === undefined) {
      const api = loadPublicApi().conclave.v1;
      const credentials = grpc.credentials.createInsecure();
      clients = { cluster: new api.Cluster(leader.clientAddress, credentials), leases: new api.Leases(leader.clientAddress, credentials) };
      this.clients.set(leader.clientAddress, clients);
    }
    return new Promise<T>((resolve, reject) => {
      invoke(clients!, (error, value) => {
        if (error) {
          const code = error.metadata?.get(ERROR_CODE_KEY)[0];
          reject(new ConclaveError((code as ErrorCode) ?? 'UNAVAILABLE', error.details || error.message));
        } else resolve(value as T);
      });
    });
  }

  close(): void {
    for (const c of this.clients.values()) {
      c.cluster.close();
      c.leases.close();
    }
    this.clients.clear();
  }
}
