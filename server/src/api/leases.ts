/** Leases (etcd style) on the session table: a lease is a session without a stream. */
import type * as grpc from '@grpc/grpc-js';
import type { LeasesHandlers } from '@conclave/proto/gen/conclave/v1/Leases.js';
import type { LeaseKeepAliveRequest__Output } from '@conclave/proto/gen/conclave/v1/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse } from '@conclave/proto/gen/conclave/v1/LeaseKeepAliveResponse.js';
import { ResourceExhaustedError, SessionExpiredError } from '../errors.js';
import { checkId } from '../pipeline/prepare.js';
import { answer } from './answer.js';
import type { ApiContext } from './context.js';
import type { LeaderClient } from './leader-client.js';


export function leaseHandlers(ctx: ApiContext, leader: LeaderClient): LeasesHandlers {
  const { node } = ctx;
  return {
    Grant: (call, cb) =>
      answer(ctx, 'leaseGrant', cb, async () => {
        if (node.fsm.sessions.size >= ctx.options.maxSessions) {
          throw new ResourceExhaustedError(`the cluster holds ${node.fsm.sessions.size} sessions and leases, its limit`);
        }
        const timeoutMs = node.clampSessionTimeout(Number(call.request.ttlMs));
        const outcome = await node.write({ op: 'createSession', createSession: { timeoutMs, secret: Buffer.from(node.newSecret()), lease: true } }, 0);
        if (outcome.error) throw outcome.error;
        if (outcome.result.op !== 'createSession') throw new Error('unexpected result');
        return { id: outcome.result.session.id, ttlMs: outcome.result.session.timeoutMs };
      }),
    Revoke: (call, cb) =>
      answer(ctx, 'leaseRevoke', cb, async () => {
        const id = checkId(call.request.id, 'lease');
        const outcome = await node.write({ op: 'closeSession', closeSession: { sessionId: id, expired: false } }, 0);
        if (outcome.error) throw outcome.error;
        return {};
      }),
    KeepAlive: (call: grpc.ServerDuplexStream<LeaseKeepAliveRequest__Output, LeaseKeepAliveResponse>) => {
      call.on('data', (request: LeaseKeepAliveRequest__Output) => {
        const lease = node.fsm.sessions.get(request.id);
        if (lease !== undefined) node.touch(lease.id);
        call.write({ id: request.id, ttlMs: lease?.timeoutMs ?? 0 });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    TimeToLive: (call, cb) =>
      answer(ctx, 'leaseTimeToLive', cb, async () => {
        const id = checkId(call.request.id, 'lease');
        if (!node.isLeader) return leader.call((c, done) => c.leases.TimeToLive(call.request, done));
        const lease = node.fsm.sessions.get(id);
        if (lease === undefined) throw new SessionExpiredError(`lease ${id} does not exist`);
        return {
          id,
          grantedTtlMs: lease.timeoutMs,
          remainingMs: node.tracker.remaining(id, Date.now()),
          keys: call.request.keys ? [...node.fsm.tree.ephemeralsOf(id)].sort() : [],
        };
      }),
    List: (_call, cb) =>
      answer(ctx, 'leaseList', cb, () => ({
        leases: [...node.fsm.sessions.values()].map((s) => ({ id: s.id, ttlMs: s.timeoutMs, session: !s.lease })),
      })),
  };
}
