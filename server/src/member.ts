/**
 * Assembles a running member from its configuration: storage, Raft node, peer transport, client
 * API, metrics and health endpoints; and takes it down in order.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type http from 'node:http';
import type { ServerConfig } from './config.js';
import { clusterIdOf, founders } from './config.js';
import { ClientApiServer } from './api/server.js';
import { startHttpServer } from './http.js';
import type { Logger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { ConclaveNode } from './node.js';
import { claimIdentity, SnapshotStore, Wal } from './storage/index.js';
import { PeerTransport } from './transport/peer-transport.js';
import { VERSION } from './version.js';

/**
 * Random bytes drawn from OpenSSL 4 KiB at a time and handed out as views: every session opened
 * takes a 16-byte secret, and one randomBytes call each was 1.3-1.5% of a member's busy time under
 * the benchmark's session churn (profiles of 2026-11-27).
 */
function pooledRandomBytes(): (n: number) => Uint8Array {
  const POOL_BYTES = 4096;
  let pool = Buffer.alloc(0);
  let at = 0;
  return (n) => {
    if (n > POOL_BYTES / 4) return randomBytes(n);
    if (at + n > pool.length) {
      pool = randomBytes(POOL_BYTES);
      at = 0;
    }
    at += n;
    return pool.subarray(at - n, at);
  };
}

export interface RunningMember {
  node: ConclaveNode;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  /** Graceful stop: hands leadership over when leading, then closes everything. */
  stop(): Promise<void>;
  /** Resolves with the error that made the member stop on its own (storage failure, removal). */
  failed: Promise<Error>;
}

export async function startMember(config: ServerConfig, logger: Logger): Promise<RunningMember> {
  const members = founders(config);
  const clusterId = clusterIdOf(config.clusterToken, members);
  await claimIdentity(config.dataDir, { clusterId, memberId: config.id });
  const { wal, recovered } = await Wal.open(path.join(config.dataDir, 'wal'));
  const snapshots = await SnapshotStore.open(path.join(config.dataDir, 'snap'));
  const metrics = new ServerMetrics();
  const transport = new PeerTransport({
    id: config.id,
    clusterId: () => clusterId,
    selfAddress: () => nodeRef?.peerAddress || `${config.advertiseHost}:${config.peerPort}`,
    host: config.host,
    port: config.peerPort,
    logger: logger.child({ component: 'transport' }),
  });
  let nodeRef: ConclaveNode | undefined;
  const node = await ConclaveNode.open(
    {
      id: config.id,
      clusterId,
      founders: members,
      bootstrap: !config.join,
      tickMs: config.raftTickMs,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      minSessionTimeoutMs: config.minSessionTimeoutMs,
      maxSessionTimeoutMs: config.maxSessionTimeoutMs,
      snapshotCount: config.snapshotCount,
      snapshotCatchUpEntries: config.snapshotCatchUpEntries,
      snapshotLogBytes: config.snapshotLogBytes,
      logMemoryBytes: config.logMemoryBytes,
      requestTimeoutMs: config.requestTimeoutMs,
      maxPendingWrites: config.maxPendingWrites,
      historyEvents: config.historyEvents,
      reapIntervalMs: config.reapIntervalMs,
    },
    {
      log: wal,
      recovered,
      snapshots,
      transport,
      clock: { now: () => Date.now() },
      random: Math.random,
      randomBytes: pooledRandomBytes(),
      logger: logger.child({ component: 'node' }),
      metrics,
    },
  );
  nodeRef = node;
  const api = new ClientApiServer(
    node,
    {
      limits: { maxDataBytes: config.maxDataBytes, maxPathBytes: config.maxPathBytes, maxMultiOps: config.maxMultiOps, maxTtlMs: 2 ** 40 - 1 },
      maxOutstandingPerSession: config.maxOutstandingPerSession,
      maxOutboundMessages: config.maxOutboundMessages,
      connectTimeoutMs: config.requestTimeoutMs,
      maxWatchesPerSession: config.maxWatchesPerSession,
      maxSessions: config.maxSessions,
    },
    metrics,
    logger.child({ component: 'api' }),
  );
  metrics.bind({
    fsm: () => node.fsm,
    watchCount: () => node.watches.count,
    outstandingRequests: () => api.context.sessions.outstanding + api.context.unaryInFlight,
    pendingProposals: () => node.pendingWrites,
    status: () => node.status(),
    isLeader: () => node.isLeader,
    peers: () => transport.peerStats(),
  });

  let fail: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  node.onFatal = (error) => fail(error);

  await node.start();
  const peerPort = transport.boundPort;
  const clientPort = await api.listen(config.host, config.clientPort);
  let httpServer: http.Server | undefined;
  const ready = () => {
    const s = node.status();
    if (s.leader === 0) return { ok: false, reason: 'no leader known' };
    if (s.appliedIndex + 1000 < s.commitIndex) return { ok: false, reason: `catching up: applied ${s.appliedIndex} of ${s.commitIndex}` };
    return { ok: true, reason: `ok: member ${s.id}, ${s.role}, leader ${s.leader}` };
  };
  httpServer = await startHttpServer(config.host, config.metricsPort, metrics, {
    healthy: () => ({ ok: true, reason: 'ok' }),
    ready,
    status: () => ({ version: VERSION, ...node.status(), znodes: node.fsm.tree.size, sessions: node.fsm.sessions.size }),
  });
  const servingTimer = setInterval(() => api.setServing(ready().ok), 250);
  const metricsAddress = httpServer.address();
  const metricsPort = typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : config.metricsPort;
  logger.info({ id: config.id, clusterId, clientPort, peerPort, metricsPort, version: VERSION }, 'member started');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(servingTimer);
      api.setServing(false);
      if (node.isLeader && node.fsm.cluster.members.size > 1) {
        try {
          const to = node.status().progress.filter((p) => p.id !== node.id).sort((a, b) => b.match - a.match)[0];
          if (to) {
            node.transferLeadership(to.id);
            await node.waitLeaderChange(1000);
          }
        } catch (error) {
          logger.warn({ err: error }, 'could not hand over leadership before stopping');
        }
      }
      await api.close();
      await node.stop();
      await wal.close();
      await new Promise((r) => httpServer!.close(r));
      logger.info('member stopped');
    })());
  return { node, clientPort, peerPort, metricsPort, stop, failed };
}
