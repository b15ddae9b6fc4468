/**
 * Cluster admin (Cluster service): status, members, membership changes, leadership transfer and
 * snapshots. Membership changes are made by the leader; any member forwards them there.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ClusterHandlers } from '@conclave/proto/gen/conclave/v1/Cluster.js';
import type { SnapshotRequest__Output } from '@conclave/proto/gen/conclave/v1/SnapshotRequest.js';
import type { SnapshotChunk } from '@conclave/proto/gen/conclave/v1/SnapshotChunk.js';
import type { MembersResponse } from '@conclave/proto/gen/conclave/v1/MembersResponse.js';
import { InvalidArgumentError, NoNodeError, NotLeaderError, UnavailableError, ConclaveError, asConclaveError } from '../errors.js';
import { ConfChangeType, Role } from '../raft/types.js';
import { VERSION } from '../version.js';
import { answer } from './answer.js';
import type { ApiContext } from './context.js';
import type { LeaderClient } from './leader-client.js';
import { toServiceError } from './status.js';

/** A learner is promoted only when its log is at most this far behind the leader's. */
const PROMOTE_MAX_LAG = 1000;

const ROLE_NAMES = {
  [Role.Follower]: 'FOLLOWER',
  [Role.PreCandidate]: 'PRE_CANDIDATE',
  [Role.Candidate]: 'CANDIDATE',
  [Role.Leader]: 'LEADER',
  learner: 'LEARNER',
} as const;

export function clusterHandlers(ctx: ApiContext, leader: LeaderClient): ClusterHandlers {
  const { node } = ctx;
  const members = (): MembersResponse => ({ ...node.members(), clusterId: node.fsm.cluster.clusterId });
  const checkMemberId = (id: number) => {
    if (!Number.isInteger(id) || id < 1 || id > 65535) throw new InvalidArgumentError(`member id must be an integer in 1..65535, not ${id}`);
    return id;
  };
  /** host:port (or [ipv6]:port): anything else would be committed and then fail every member applying it. */
  const checkAddress = (address: string, what: string) => {
    const match = /^([^\x00-\x20/:\x7f]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/.exec(address);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new InvalidArgumentError(`${what} must be host:port, not ${JSON.stringify(address)}`);
    }
    return address;
  };
  /** Runs on the leader: here if we are it, else forwarded. */
  const onLeader = async <T>(here: () => Promise<T>, forward: (done: grpc.requestCallback<T>, c: Parameters<Parameters<LeaderClient['call']>[0]>[0]) => void): Promise<T> => {
    if (node.isLeader) return here();
    if (node.leaderId === 0) throw new UnavailableError('no leader (no quorum)');
    return leader.call<T>((c, done) => forward(done, c));
  };

  return {
    Status: (_call, cb) =>
      answer(ctx, 'status', cb, () => {
        const s = node.status();
        return {
          memberId: s.id,
          role: ROLE_NAMES[s.role],
          leaderId: s.leader,
          term: s.term,
          commitIndex: s.commitIndex,
          appliedIndex: s.appliedIndex,
          lastIndex: s.lastIndex,
          clusterId: s.clusterId,
          progress: s.progress.map((p) => ({ id: p.id, matchIndex: p.match, lag: p.lag, active: p.active })),
          version: VERSION,
          snapshotIndex: s.snapshotIndex,
          znodeCount: node.fsm.tree.size,
          sessionCount: node.fsm.sessions.size,
        };
      }),
    Members: (_call, cb) => answer(ctx, 'members', cb, members),
    AddMember: (call, cb) =>
      answer(ctx, 'addMember', cb, () =>
        onLeader(async () => {
          const id = checkMemberId(call.request.id);
          if (node.fsm.cluster.members.has(id)) throw new InvalidArgumentError(`member ${id} is already in the cluster`);
          if (!call.request.peerAddress) throw new InvalidArgumentError('peer_address is required');
          checkAddress(call.request.peerAddress, 'peer_address');
          if (call.request.clientAddress) checkAddress(call.request.clientAddress, 'client_address');
          await node.changeMembership(ConfChangeType.AddLearner, id, {
            id, peerAddress: call.request.peerAddress, clientAddress: call.request.clientAddress, voter: false,
          });
          return members();
        }, (done, c) => c.cluster.AddMember(call.request, done)),
      ),
    PromoteMember: (call, cb) =>
      answer(ctx, 'promoteMember', cb, () =>
        onLeader(async () => {
          const id = checkMemberId(call.request.id);
          const member = node.fsm.cluster.members.get(id);
          if (member === undefined) throw new NoNodeError(`member ${id} is not in the cluster`);
          if (member.voter) throw new InvalidArgumentError(`member ${id} is already a voter`);
          const progress = node.status().progress.find((p) => p.id === id);
          if (progress === undefined || progress.lag > PROMOTE_MAX_LAG || progress.match === 0) {
            throw new ConclaveError('UNAVAILABLE', `learner ${id} has not caught up yet (lag ${progress?.lag ?? 'unknown'}); retry`);
          }
          await node.changeMembership(ConfChangeType.Promote, id);
          return members();
        }, (done, c) => c.cluster.PromoteMember(call.request, done)),
      ),
    RemoveMember: (call, cb) =>
      answer(ctx, 'removeMember', cb, () =>
        onLeader(async () => {
          const id = checkMemberId(call.request.id);
          if (!node.fsm.cluster.members.has(id)) throw new NoNodeError(`member ${id} is not in the cluster`);
          if (id === node.id) {
            const voters = [...node.fsm.cluster.members.values()].filter((m) => m.voter && m.id !== id);
            if (voters.length === 0) throw new InvalidArgumentError('cannot remove the last voter');
            throw new NotLeaderError(`member ${id} is the leader: transfer leadership first, then remove it`);
          }
          await node.changeMembership(ConfChangeType.Remove, id);
          return members();
        }, (done, c) => c.cluster.RemoveMember(call.request, done)),
      ),
    TransferLeadership: (call, cb) =>
      answer(ctx, 'transferLeadership', cb, () =>
        onLeader(async () => {
          const to = call.request.to === 0 ? bestTransferee(node.status(), node.fsm.cluster.members, node.id) : checkMemberId(call.request.to);
          if (to === node.id) return { leaderId: node.id };
          const target = node.fsm.cluster.members.get(to);
          if (target === undefined || !target.voter) throw new InvalidArgumentError(`member ${to} is not a voter`);
          node.transferLeadership(to);
          const leaderId = await node.waitLeaderChange(node.options.electionTicks * node.options.tickMs * 3);
          if (leaderId !== to) throw new UnavailableError(`leadership did not move to ${to} (leader: ${leaderId || 'none'})`);
          return { leaderId };
        }, (done, c) => c.cluster.TransferLeadership(call.request, done)),
      ),
    TakeSnapshot: (_call, cb) => answer(ctx, 'takeSnapshot', cb, async () => ({ index: await node.takeSnapshot() })),
    Snapshot: (call: grpc.ServerWritableStream<SnapshotRequest__Output, SnapshotChunk>) => {
      void (async () => {
        try {
          let file = await node.latestSnapshot();
          if (file === undefined) {
            await node.takeSnapshot();
            file = await node.latestSnapshot();
          }
          if (file === undefined) throw new UnavailableError('no snapshot could be taken');
          for await (const chunk of node.openSnapshot(file.path)) {
            if (!call.write({ data: Buffer.from(chunk) })) await new Promise((r) => call.once('drain', r));
          }
          call.end();
        } catch (error) {
          call.destroy(toServiceError(asConclaveError(error)));
        }
      })();
    },
  };
}

/** The voter with the highest match index, other than the leader itself. */
function bestTransferee(status: ReturnType<ApiContext['node']['status']>, members: Map<number, { voter: boolean }>, self: number): number {
  let best = 0;
  let bestMatch = -1;
  for (const p of status.progress) {
    if (p.id === self || !members.get(p.id)?.voter) continue;
    if (p.match > bestMatch) {
      best = p.id;
      bestMatch = p.match;
    }
  }
  if (best === 0) throw new InvalidArgumentError('there is no other voter to transfer leadership to');
  return best;
}
