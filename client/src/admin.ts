/**
 * Cluster administration (the Cluster service): member status, the member list, membership
 * changes (add a learner, promote it, remove a member), leadership transfer and snapshots. Works
 * without a session, so it also answers when the cluster has no quorum (status, members).
 *
 *   const admin = new ClusterAdmin({ endpoints: '127.0.0.1:2281' });   // or client.cluster
 *   console.table((await admin.statusAll()).map((s) => s.status));
 *   await admin.addMember(4, '10.0.0.4:2882', '10.0.0.4:2281');
 *   await admin.promote(4);
 *   await admin.saveSnapshot('backup.snap');
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { SnapshotChunk__Output } from '@conclave/proto/gen/conclave/v1/SnapshotChunk.js';
import { parseEndpoints } from './endpoints.js';
import { Channels, fromServiceError } from './grpc.js';
import type { RequestOptions } from './types.js';
import type * as grpc from '@grpc/grpc-js';

export type MemberRole = 'FOLLOWER' | 'CANDIDATE' | 'LEADER' | 'LEARNER' | 'PRE_CANDIDATE';

export interface MemberStatus {
  /** the endpoint that answered */
  endpoint: string;
  memberId: number;
  role: MemberRole;
  /** 0: no leader known */
  leaderId: number;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  clusterId: string;
  version: string;
  znodeCount: number;
  sessionCount: number;
  /** replication progress of each member, as the leader sees it (empty on other members) */
  progress: { id: number; matchIndex: number; lag: number; active: boolean }[];
}

export interface MemberInfo {
  id: number;
  peerAddress: string;
  clientAddress: string;
  /** false: a learner */
  voter: boolean;
}

export interface Membership {
  clusterId: string;
  members: MemberInfo[];
  /** ids that were removed and may never come back */
  removedIds: number[];
}

type MembersWire = { clusterId: string; members: MemberInfo[]; removedIds: number[] };

const membership = (r: MembersWire): Membership => ({
  clusterId: r.clusterId,
  members: r.members.map((m) => ({ id: m.id, peerAddress: m.peerAddress, clientAddress: m.clientAddress, voter: m.voter })).sort((a, b) => a.id - b.id),
  removedIds: [...r.removedIds].sort((a, b) => a - b),
});

export interface AdminOptions {
  /** "host:port,host:port"; default CONCLAVE_ENDPOINTS or 127.0.0.1:2281 */
  endpoints?: string | string[];
  /** default time to wait for an answer, ms (default 15 s) */
  requestTimeoutMs?: number;
}

export class ClusterAdmin {
  private readonly channels: Channels;
  private readonly owned: boolean;

  /** A standalone admin client; or one sharing a Conclave client's channels (client.cluster). */
  constructor(options: AdminOptions | Channels = {}) {
    if (options instanceof Channels) {
      this.channels = options;
      this.owned = false;
    } else {
      this.channels = new Channels(parseEndpoints(options.endpoints ?? process.env.CONCLAVE_ENDPOINTS), options.requestTimeoutMs ?? 15_000);
      this.owned = true;
    }
  }

  /** One member's view of the cluster (the given endpoint, or the first that answers). */
  async status(options: RequestOptions & { endpoint?: string } = {}): Promise<MemberStatus> {
    const targets = options.endpoint ? [options.endpoint] : this.channels.order();
    let last: unknown;
    for (const endpoint of targets) {
      try {
        const r = await this.channels.call<Omit<MemberStatus, 'endpoint'>>((s, o, done) => s.cluster.Status({}, o, done), { ...options, endpoint });
        return toStatus(endpoint, r);
      } catch (error) {
        last = error;
        if ((error as { code?: string }).code !== 'UNAVAILABLE') throw error;
      }
    }
    throw last;
  }

  /**
   * Every member's status: the members listed by the cluster (by their client address), or the
   * configured endpoints when no member can list them. Unreachable members come with their error.
   */
  async statusAll(options: RequestOptions = {}): Promise<({ endpoint: string; status: MemberStatus } | { endpoint: string; error: Error })[]> {
    let endpoints = this.channels.endpoints;
    try {
      const listed = (await this.members(options)).members.map((m) => m.clientAddress).filter(Boolean);
      if (listed.length > 0) endpoints = listed;
    } catch {
      // No member answers the list: ask the configured endpoints one by one.
    }
    return Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          return { endpoint, status: await this.status({ ...options, endpoint }) };
        } catch (error) {
          return { endpoint, error: error as Error };
        }
      }),
    );
  }

  async members(options: RequestOptions = {}): Promise<Membership> {
    return membership(await this.channels.call<MembersWire>((s, o, done) => s.cluster.Members({}, o, done), { ...options, idempotent: true }));
  }

  /** Adds a member as a learner (non-voting); start it with --join, then promote it. */
  async addMember(id: number, peerAddress: string, clientAddress = '', options: RequestOptions = {}): Promise<Membership> {
    return membership(await this.channels.call<MembersWire>((s, o, done) => s.cluster.AddMember({ id, peerAddress, clientAddress }, o, done), options));
  }

  /** Makes a caught-up learner a voter (fails with Unavailable while it is still catching up: retry). */
  async promote(id: number, options: RequestOptions = {}): Promise<Membership> {
    return membership(await this.channels.call<MembersWire>((s, o, done) => s.cluster.PromoteMember({ id }, o, done), options));
  }

  /** Removes a member for good (its id can never be reused). The leader must transfer leadership first. */
  async remove(id: number, options: RequestOptions = {}): Promise<Membership> {
    return membership(await this.channels.call<MembersWire>((s, o, done) => s.cluster.RemoveMember({ id }, o, done), options));
  }

  /** Moves leadership to member `to` (default: the most caught-up voter); resolves with the new leader's id. */
  async transferLeadership(to = 0, options: RequestOptions = {}): Promise<number> {
    const r = await this.channels.call<{ leaderId: number }>((s, o, done) => s.cluster.TransferLeadership({ to }, o, done), options);
    return r.leaderId;
  }

  /** Makes a member snapshot its state now; resolves with the snapshot's index. */
  async takeSnapshot(options: RequestOptions & { endpoint?: string } = {}): Promise<number> {
    const r = await this.channels.call<{ index: number }>((s, o, done) => s.cluster.TakeSnapshot({}, o, done), options);
    return r.index;
  }

  /**
   * Streams a member's latest snapshot into `file` (written to a temporary name, fsynced, then
   * renamed, so that `file` is never partial). Resolves with the byte count.
   */
  async saveSnapshot(file: string, options: { endpoint?: string; signal?: AbortSignal } = {}): Promise<{ file: string; bytes: number; endpoint: string }> {
    const endpoint = options.endpoint ?? this.channels.order()[0]!;
    const temporary = `${file}.part-${process.pid}`;
    const fd = openSync(temporary, 'w', 0o600);
    let bytes = 0;
    try {
      const call = this.channels.stubsFor(endpoint).cluster.Snapshot({});
      const onAbort = () => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of call as AsyncIterable<SnapshotChunk__Output>) {
          writeSync(fd, chunk.data);
          bytes += chunk.data.length;
        }
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        throw fromServiceError(error as grpc.ServiceError, endpoint);
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
      fsyncSync(fd);
      closeSync(fd);
      renameSync(temporary, file);
      return { file, bytes, endpoint };
    } catch (error) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(temporary, { force: true });
      throw error;
    }
  }

  /** Closes the channels of a standalone admin client. */
  close(): void {
    if (this.owned) this.channels.close();
  }
}

function toStatus(endpoint: string, r: Omit<MemberStatus, 'endpoint'>): MemberStatus {
  return {
    endpoint,
    memberId: r.memberId,
    role: r.role,
    leaderId: r.leaderId,
    term: r.term,
    commitIndex: r.commitIndex,
    appliedIndex: r.appliedIndex,
    lastIndex: r.lastIndex,
    snapshotIndex: r.snapshotIndex,
    clusterId: r.clusterId,
    version: r.version,
    znodeCount: r.znodeCount,
    sessionCount: r.sessionCount,
    progress: r.progress.map((p) => ({ id: p.id, matchIndex: p.matchIndex, lag: p.lag, active: p.active })),
  };
}
