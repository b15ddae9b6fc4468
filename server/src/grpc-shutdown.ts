/** Stops a gRPC server: lets calls finish for up to `graceMs`, then cuts the rest. */
import type * as grpc from '@grpc/grpc-js';

export function shutdownGrpcServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
