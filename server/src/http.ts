/** The metrics and health HTTP endpoint: /metrics (Prometheus), /healthz, /readyz, /status (JSON). */
import http from 'node:http';
import type { ServerMetrics } from './metrics.js';

export interface HealthSource {
  /** the process works (not failing) */
  healthy(): { ok: boolean; reason: string };
  /** it can serve clients: it knows a leader and has applied what was committed */
  ready(): { ok: boolean; reason: string };
  status(): unknown;
}

export function startHttpServer(host: string, port: number, metrics: ServerMetrics, health: HealthSource): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const reply = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    const check = (result: { ok: boolean; reason: string }) => reply(result.ok ? 200 : 503, 'text/plain', result.reason + '\n');
    switch (url) {
      case '/metrics':
        metrics.render().then(
          ({ contentType, body }) => reply(200, contentType, body),
          (error: Error) => reply(500, 'text/plain', error.message),
        );
        return;
      case '/healthz':
        return check(health.healthy());
      case '/readyz':
        return check(health.ready());
      case '/status':
        return reply(200, 'application/json', JSON.stringify(health.status(), null, 2) + '\n');
      default:
        return reply(404, 'text/plain', 'not found: try /metrics, /healthz, /readyz or /status\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
