/**
 * The unary methods of Conclave (and the sessionless Watch stream): the same semantics as the
 * session stream for one request at a time. Reads are served from this member's applied tree;
 * writes go through the log; ephemeral nodes need a lease_id.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ConclaveHandlers } from '@conclave/proto/gen/conclave/v1/Conclave.js';
import type { WatchRequest__Output as WatchRequest } from '@conclave/proto/gen/conclave/v1/WatchRequest.js';
import type { WatchEvent as WireWatchEvent } from '@conclave/proto/gen/conclave/v1/WatchEvent.js';
import { ConclaveError, InvalidArgumentError, TimeoutError, asConclaveError } from '../errors.js';
import { prepareWrite } from '../pipeline/prepare.js';
import * as reads from '../pipeline/reads.js';
import { validatePath } from '../tree/path.js';
import type { WatchEvent, Watcher } from '../watch/registry.js';
import { restoreWatches } from '../watch/restore.js';
import { answer } from './answer.js';
import type { ApiContext } from './context.js';
import { unaryWriteResponse } from './responses.js';
import { toServiceError } from './status.js';



function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) return deadline.getTime();
  return Number.isFinite(deadline) && deadline > 0 ? deadline : undefined;
}

export function unaryHandlers(ctx: ApiContext): ConclaveHandlers {
  const { node, options } = ctx;
  const readCtx = (): reads.ReadContext => ({ tree: node.fsm.tree, registry: node.watches, watcher: undefined, maxPathBytes: options.limits.maxPathBytes, maxWatches: 0 });
  const write = <T>(call: grpc.ServerUnaryCall<unknown, unknown>, request: Parameters<typeof prepareWrite>[0], withStat = false) =>
    new Promise<T>((resolve, reject) => {
      const body = prepareWrite(request, { sessionId: 0 }, options.limits);
      node.submitWrite(body, 0, (outcome) => {
        if (outcome instanceof ConclaveError) return reject(outcome);
        try {
          resolve(unaryWriteResponse<T>(outcome, withStat));
        } catch (error) {
          reject(error);
        }
      }, deadlineOf(call));
    });
  const barrier = () =>
    new Promise<void>((resolve, reject) => node.linearizableBarrier((error) => (error ? reject(error) : resolve())));

  return {
    Session: () => {
      throw new Error('Session is served by the session stream handler');
    },
    Create: (call, cb) => answer(ctx, 'create', cb, () => write(call, { op: 'create', create: call.request }, call.request.withStat)),
    Delete: (call, cb) => answer(ctx, 'delete', cb, () => write(call, { op: 'delete', delete: call.request })),
    SetData: (call, cb) => answer(ctx, 'setData', cb, () => write(call, { op: 'setData', setData: call.request })),
    Multi: (call, cb) => answer(ctx, 'multi', cb, () => write(call, { op: 'multi', multi: call.request })),
    Exists: (call, cb) => answer(ctx, 'exists', cb, () => reads.exists(readCtx(), call.request.path, call.request.watch)),
    GetData: (call, cb) => answer(ctx, 'getData', cb, () => reads.getData(readCtx(), call.request.path, call.request.watch)),
    GetChildren: (call, cb) =>
      answer(ctx, 'getChildren', cb, () => reads.getChildren(readCtx(), call.request.path, call.request.watch, call.request.withStat)),
    GetAllChildrenNumber: (call, cb) => answer(ctx, 'getAllChildrenNumber', cb, () => reads.getAllChildrenNumber(readCtx(), call.request.path)),
    GetEphemerals: (call, cb) =>
      answer(ctx, 'getEphemerals', cb, () => {
        throw new InvalidArgumentError(`getEphemerals needs a session (or Leases.TimeToLive with keys for a lease): ${call.request.prefix}`);
      }),
    Sync: (call, cb) =>
      answer(ctx, 'sync', cb, async () => {
        const path = validatePath(call.request.path, options.limits.maxPathBytes);
        await barrier();
        return { path };
      }),
    MultiRead: (call, cb) => answer(ctx, 'multiRead', cb, () => ({ results: reads.multiRead(readCtx(), call.request.ops, options.limits.maxMultiOps) })),
    Watch: (call) => watchStream(ctx, call as grpc.ServerWritableStream<WatchRequest, WireWatchEvent>),
  };
}

/** A sessionless stream of persistent watches, resumable from start_zxid. */
function watchStream(ctx: ApiContext, call: grpc.ServerWritableStream<WatchRequest, WireWatchEvent>): void {
  const { node, options } = ctx;
  let closed = false;
  let unflushed = 0;
  const watcher: Watcher = {
    deliver(event: WatchEvent) {
      if (closed) return;
      // Counts events written while the stream is over its high-water mark (write() said no and
      // 'drain' has not come yet): only a client that stops reading gets there.
      if (call.write({ type: event.type, path: event.path, zxid: event.zxid })) unflushed = 0;
      else unflushed++;
      if (unflushed > options.maxOutboundMessages) {
        close();
        call.destroy(toServiceError(new TimeoutError('the client is not reading its watch stream')));
      }
    },
  };
  const close = () => {
    if (closed) return;
    closed = true;
    node.watches.removeWatcher(watcher);
  };
  call.on('drain', () => (unflushed = 0));
  call.on('cancelled', close);
  call.on('close', close);
  call.on('error', close);
  try {
    const persistent: string[] = [];
    const recursive: string[] = [];
    for (const w of call.request.watches) {
      const path = validatePath(w.path, options.limits.maxPathBytes);
      if (w.mode === 'PERSISTENT_WATCH') persistent.push(path);
      else if (w.mode === 'PERSISTENT_RECURSIVE_WATCH') recursive.push(path);
      else throw new InvalidArgumentError(`unknown watch mode ${String(w.mode)}`);
    }
    if (persistent.length + recursive.length === 0) throw new InvalidArgumentError('Watch needs at least one watch');
    const start = call.request.startZxid || node.appliedIndex;
    restoreWatches(
      { relativeZxid: start, dataWatches: [], existWatches: [], childWatches: [], persistentWatches: persistent, persistentRecursiveWatches: recursive },
      watcher, node.watches, node.fsm.tree, node.history, node.appliedIndex,
    );
  } catch (error) {
    close();
    call.destroy(toServiceError(asConclaveError(error)));
  }
}
