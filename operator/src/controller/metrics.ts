/**
 * The operator's own metrics (prom-client, prefixed conclave_operator_) and its HTTP endpoint:
 * /metrics, /healthz (the process works), /readyz (caches synced; leading or standing by).
 */
import http from 'node:http';
import client from 'prom-client';

export class OperatorMetrics {
  readonly registry = new client.Registry();
  readonly reconciles: client.Counter<'result'>;
  readonly reconcileSeconds: client.Histogram;
  readonly steps: client.Counter<'action'>;
  readonly queueDepth: client.Gauge;
  readonly leader: client.Gauge;
  readonly clusters: client.Gauge;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'conclave_operator_process_' });
    this.reconciles = new client.Counter({ name: 'conclave_operator_reconciles_total', help: 'Reconciles, by result (ok, error)', labelNames: ['result'], registers });
    this.reconcileSeconds = new client.Histogram({
      name: 'conclave_operator_reconcile_duration_seconds',
      help: 'Time of one reconcile',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.steps = new client.Counter({ name: 'conclave_operator_steps_total', help: 'Membership and rollout steps taken, by action', labelNames: ['action'], registers });
    this.queueDepth = new client.Gauge({ name: 'conclave_operator_queue_depth', help: 'Keys waiting in the work queue', registers });
    this.leader = new client.Gauge({ name: 'conclave_operator_leader', help: '1 while this replica holds the leader lease', registers });
    this.clusters = new client.Gauge({ name: 'conclave_operator_clusters', help: 'CoordinationClusters seen', registers });
  }
}

export interface Health {
  healthy(): boolean;
  ready(): boolean;
}

export function serveMetrics(port: number, metrics: OperatorMetrics, health: Health): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const reply = (code: number, body: string, type = 'text/plain') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    switch ((req.url ?? '/').split('?')[0]) {
      case '/metrics':
        metrics.registry.metrics().then(
          (body) => reply(200, body, metrics.registry.contentType),
          (e: Error) => reply(500, e.message),
        );
        return;
      case '/healthz':
        return health.healthy() ? reply(200, 'ok\n') : reply(503, 'unhealthy\n');
      case '/readyz':
        return health.ready() ? reply(200, 'ok\n') : reply(503, 'not ready\n');
      default:
        return reply(404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}
