/** Runs a unary handler body, answering with its value or its error as gRPC status, and records metrics. */
import type * as grpc from '@grpc/grpc-js';
import { asConclaveError } from '../errors.js';
import type { ApiContext } from './context.js';
import { toServiceError } from './status.js';

export function answer<T>(ctx: ApiContext, op: string, callback: grpc.sendUnaryData<T>, body: () => T | Promise<T>): void {
  const started = performance.now();
  ctx.unaryInFlight++;
  Promise.resolve()
    .then(body)
    .then(
      (value) => {
        ctx.unaryInFlight--;
        ctx.observe(op, started, undefined);
        callback(null, value);
      },
      (error) => {
        ctx.unaryInFlight--;
        const e = asConclaveError(error);
        if (e.code === 'INTERNAL') ctx.logger.error({ err: error, op }, 'request failed');
        ctx.observe(op, started, e.code);
        callback(toServiceError(e));
      },
    );
}
