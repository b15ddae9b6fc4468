/**
 * The members' Cluster admin API (proto/conclave/v1/conclave.proto) over gRPC: status, members and
 * membership changes. Addresses are pod IPs (the operator needs no cluster DNS for them); channels
 * are cached per address and closed once unused for a minute.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi } from '@conclave/proto';
import type { ClusterClient } from '@conclave/proto/gen/conclave/v1/Cluster.js';
import type { MembersResponse__Output } from '@conclave/proto/gen/conclave/v1/MembersResponse.js';
import type { StatusResponse__Output } from '@conclave/proto/gen/conclave/v1/StatusResponse.js';

const IDLE_MS = 60_000;

export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    message: string,
    readonly code: grpc.status,
  ) {
    super(message);
  }
  /** The server asks to retry later (a learner not caught up, no leader right now). */
  get retryable(): boolean {
    return this.code === grpc.status.UNAVAILABLE || this.code === grpc.status.DEADLINE_EXCEEDED;
  }
}

export class AdminClients {
  private readonly clients = new Map<string, { client: ClusterClient; usedAt: number }>();

  private client(address: string): ClusterClient {
    const now = Date.now();
    for (const [a, entry] of this.clients) {
      if (now - entry.usedAt > IDLE_MS && a !== address) {
        entry.client.close();
        this.clients.delete(a);
      }
    }
    let entry = this.clients.get(address);
    if (!entry) {
      const Cluster = loadPublicApi().conclave.v1.Cluster;
      entry = { client: new Cluster(address, grpc.credentials.createInsecure()), usedAt: now };
      this.clients.set(address, entry);
    }
    entry.usedAt = now;
    return entry.client;
  }

  private call<Req, Res>(address: string, method: keyof ClusterClient, request: Req, timeoutMs: number): Promise<Res> {
    const client = this.client(address);
    return new Promise((resolve, reject) => {
      const fn = client[method] as unknown as (req: Req, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => void;
      fn.call(client, request, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(new AdminError(`${String(method)} on ${address}: ${error.details || error.message}`, error.code ?? grpc.status.UNKNOWN));
        else resolve(response as Res);
      });
    });
  }

  status(address: string, timeoutMs = 1500): Promise<StatusResponse__Output> {
    return this.call(address, 'Status', {}, timeoutMs);
  }

  members(address: string, timeoutMs = 2000): Promise<MembersResponse__Output> {
    return this.call(address, 'Members', {}, timeoutMs);
  }

  addMember(address: string, id: number, peerAddress: string, clientAddress: string): Promise<MembersResponse__Output> {
    return this.call(address, 'AddMember', { id, peerAddress, clientAddress }, 15_000);
  }

  promoteMember(address: string, id: number): Promise<MembersResponse__Output> {
    return this.call(address, 'PromoteMember', { id }, 15_000);
  }

  removeMember(address: string, id: number): Promise<MembersResponse__Output> {
    return this.call(address, 'RemoveMember', { id }, 15_000);
  }

  transferLeadership(address: string, to: number): Promise<{ leaderId: number }> {
    return this.call(address, 'TransferLeadership', { to }, 15_000);
  }

  close(): void {
    for (const entry of this.clients.values()) entry.client.close();
    this.clients.clear();
  }
}
