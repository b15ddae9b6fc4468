/**
 * The client-facing gRPC server of a member: Conclave (session stream + unary), Leases, Cluster,
 * grpc.health.v1 and server reflection (so generic tools such as grpcurl can explore the API).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadPublicApi, publicPackageDefinition, widenServerWindows } from '@conclave/proto';
import type { SessionUp__Output as SessionUp } from '@conclave/proto/gen/conclave/v1/SessionUp.js';
import { ApiContext, type ApiOptions } from './context.js';
import { clusterHandlers } from './cluster.js';
import { LeaderClient } from './leader-client.js';
import { leaseHandlers } from './leases.js';
import { serializeSessionDown, type SessionDownParts } from './session-down.js';
import { SessionStream } from './session-stream.js';
import { sessionUpDeserializer } from './session-up.js';
import { unaryHandlers } from './unary.js';
import type { ConclaveNode } from '../node.js';
import type { ServerMetrics } from '../metrics.js';
import type { Logger } from '../logger.js';
import { shutdownGrpcServer } from '../grpc-shutdown.js';

export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024;

export class ClientApiServer {
  readonly context: ApiContext;
  private readonly server: grpc.Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', 'conclave.v1.Conclave': 'NOT_SERVING' });
  private readonly leaderClient: LeaderClient;

  constructor(node: ConclaveNode, options: ApiOptions, metrics: ServerMetrics, logger: Logger) {
    this.context = new ApiContext(node, options, metrics, logger);
    this.leaderClient = new LeaderClient(node);
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1000,
    });
    const api = loadPublicApi().conclave.v1;
    const conclave = api.Conclave.service;
    const session = { ...conclave.Session, requestDeserialize: sessionUpDeserializer(conclave.Session.requestDeserialize), responseSerialize: serializeSessionDown };
    this.server.addService({ ...conclave, Session: session }, {
      ...unaryHandlers(this.context),
      Session: (call: grpc.ServerDuplexStream<SessionUp, SessionDownParts>) => new SessionStream(call, this.context),
    });
    this.server.addService(api.Leases.service, leaseHandlers(this.context, this.leaderClient));
    this.server.addService(api.Cluster.service, clusterHandlers(this.context, this.leaderClient));
    this.health.addToServer(this.server);
    new ReflectionService(publicPackageDefinition()).addToServer(this.server);
  }

  /** Binds `host:port`; returns the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    widenServerWindows(this.server);
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
        if (error) return reject(error);
        widenServerWindows(this.server);
        resolve(bound);
      });
    });
  }

  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus('conclave.v1.Conclave', status);
  }

  async close(): Promise<void> {
    this.leaderClient.close();
    await shutdownGrpcServer(this.server, 2000);
  }
}
