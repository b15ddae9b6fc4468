/**
 * Every metric the server exports (prom-client), in one place. Names are prefixed `conclave_`.
 * Gauges that mirror state are computed at scrape time from the node, so the hot path only
 * touches counters and histograms.
 */
import client from 'prom-client';
import type { StateMachine } from './fsm/state-machine.js';

export interface MetricsSource {
  fsm(): StateMachine;
  watchCount(): number;
  outstandingRequests(): number;
  pendingProposals(): number;
  status(): { term: number; leader: number; commitIndex: number; appliedIndex: number; logMemoryBytes: number };
  isLeader(): boolean;
  peers(): { id: number; rttSeconds: number; sentBytes: number; receivedBytes: number }[];
}

export class ServerMetrics {
  readonly registry = new client.Registry();
  readonly requestSeconds: client.Histogram<'op'>;
  readonly requestErrors: client.Counter<'op' | 'code'>;
  readonly walFsyncSeconds: client.Histogram;
  readonly snapshotSeconds: client.Histogram;
  readonly leaderChanges: client.Counter;
  readonly proposalsCommitted: client.Counter;
  readonly proposalsApplied: client.Counter;
  readonly proposalsFailed: client.Counter;
  private source: MetricsSource | undefined;
  private lastApplied = 0;

  constructor(labels: Record<string, string> = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    client.collectDefaultMetrics({ register: this.registry, prefix: 'conclave_' });
    const gauge = (name: string, help: string, read: (s: MetricsSource) => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect: function (this: client.Gauge) {
          const source = metrics.source;
          if (source) this.set(read(source));
        },
      });
    const metrics = this;
    gauge('conclave_znodes', 'Number of znodes in the tree', (s) => s.fsm().tree.size);
    gauge('conclave_data_bytes', 'Approximate bytes of znode data', (s) => s.fsm().tree.approximateDataSize);
    gauge('conclave_watches', 'Watches registered on this member', (s) => s.watchCount());
    gauge('conclave_sessions', 'Live sessions and leases in the cluster', (s) => s.fsm().sessions.size);
    gauge('conclave_ephemerals', 'Ephemeral znodes', (s) => s.fsm().tree.ephemeralCount);
    gauge('conclave_outstanding_requests', 'Client requests in flight on this member', (s) => s.outstandingRequests());
    gauge('conclave_proposals_pending', 'Writes sent into the log by this member and not yet applied', (s) => s.pendingProposals());
    gauge('conclave_has_leader', '1 when this member knows a leader', (s) => (s.status().leader !== 0 ? 1 : 0));
    gauge('conclave_is_leader', '1 when this member is the leader', (s) => (s.isLeader() ? 1 : 0));
    gauge('conclave_term', 'Current Raft term', (s) => s.status().term);
    gauge('conclave_commit_index', 'Raft commit index', (s) => s.status().commitIndex);
    gauge('conclave_applied_index', 'Last applied index (zxid)', (s) => s.status().appliedIndex);
    gauge('conclave_log_memory_bytes', 'Bytes of the log entries held in memory (bounded by logMemoryBytes once applied)', (s) => s.status().logMemoryBytes);
    gauge('conclave_apply_lag', 'Committed entries not yet applied', (s) => Math.max(0, s.status().commitIndex - s.status().appliedIndex));
    const peerGauge = (name: string, help: string, read: (p: ReturnType<MetricsSource['peers']>[number]) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect: function (this: client.Gauge<'peer'>) {
          this.reset();
          for (const p of metrics.source?.peers() ?? []) this.set({ peer: String(p.id) }, read(p));
        },
      });
    peerGauge('conclave_peer_round_trip_seconds', 'Latest round-trip time to a peer', (p) => p.rttSeconds);
    peerGauge('conclave_peer_sent_bytes', 'Bytes sent to a peer since start', (p) => p.sentBytes);
    peerGauge('conclave_peer_received_bytes', 'Bytes received from a peer since start', (p) => p.receivedBytes);

    this.requestSeconds = new client.Histogram({
      name: 'conclave_request_duration_seconds',
      help: 'Client request latency on this member, by operation',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.requestErrors = new client.Counter({
      name: 'conclave_request_errors_total',
      help: 'Client requests that failed, by operation and error code',
      labelNames: ['op', 'code'],
      registers,
    });
    this.walFsyncSeconds = new client.Histogram({
      name: 'conclave_wal_fsync_duration_seconds',
      help: 'Time to append a batch to the write-ahead log and fsync it',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1],
      registers,
    });
    this.snapshotSeconds = new client.Histogram({
      name: 'conclave_snapshot_duration_seconds',
      help: 'Time to take a snapshot',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.leaderChanges = new client.Counter({ name: 'conclave_leader_changes_total', help: 'Leader changes seen by this member', registers });
    this.proposalsCommitted = new client.Counter({ name: 'conclave_proposals_committed_total', help: 'Log entries committed', registers });
    this.proposalsApplied = new client.Counter({ name: 'conclave_proposals_applied_total', help: 'Log entries applied', registers });
    this.proposalsFailed = new client.Counter({ name: 'conclave_proposals_failed_total', help: 'Writes that failed before or without being applied', registers });
  }

  bind(source: MetricsSource): void {
    this.source = source;
  }

  /** After a batch of entries was applied. */
  applied(fsm: StateMachine): void {
    const delta = fsm.appliedIndex - this.lastApplied;
    if (delta > 0 && this.lastApplied > 0) this.proposalsApplied.inc(delta);
    this.lastApplied = fsm.appliedIndex;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
