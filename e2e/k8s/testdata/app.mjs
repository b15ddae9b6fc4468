// A trivial HTTP server the e2e tests run in pods (image conclave/e2e-app:* in images.yaml).
// Env: PORT (8080), DATA_DIR (/data). On start it appends a line to $DATA_DIR/boot.log; on SIGTERM
// it appends "SIGTERM <pod> <time>" to $DATA_DIR/sigterm.log, closes the server and exits 0.
//   GET /ready        200 once started (503 while $DATA_DIR/not-ready exists)
//   GET /env          {hostname, env, argv, cwd}
//   GET /file?name=N  contents of $DATA_DIR/N (404 if missing);  PUT /file?name=N  writes the body
//   GET /read?path=P  contents of any absolute path P (mounted config, service account token...)
//   GET /dns?name=H   dns.lookup(H, {all: true})
//   GET /k8s?path=P   GET P on the API server with the pod's service account (in-cluster config)
//   GET /fetch?url=U  GET U (http) from inside the pod: {status, body}
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { join } from 'node:path';

const port = Number(process.env.PORT ?? 8080);
const dataDir = process.env.DATA_DIR ?? '/data';
const pod = process.env.POD_NAME ?? os.hostname();
mkdirSync(dataDir, { recursive: true });
appendFileSync(join(dataDir, 'boot.log'), `boot ${pod} ${new Date().toISOString()}\n`);

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
function inCluster(path) {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: process.env.KUBERNETES_SERVICE_HOST,
        port: Number(process.env.KUBERNETES_SERVICE_PORT),
        path,
        ca: readFileSync(`${SA}/ca.crt`),
        headers: { authorization: `Bearer ${readFileSync(`${SA}/token`, 'utf8')}` },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('error', (e) => resolve({ status: 0, body: String(e) }));
    req.end();
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (code, body) => {
    res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  try {
    switch (url.pathname) {
      case '/ready':
        return existsSync(join(dataDir, 'not-ready')) ? send(503, 'not ready') : send(200, 'ok');
      case '/env':
        return send(200, { hostname: os.hostname(), env: process.env, argv: process.argv, cwd: process.cwd() });
      case '/file': {
        const file = join(dataDir, url.searchParams.get('name') ?? 'x');
        if (req.method === 'PUT') {
          let body = '';
          for await (const chunk of req) body += chunk;
          writeFileSync(file, body);
          return send(200, 'written');
        }
        return existsSync(file) ? send(200, readFileSync(file, 'utf8')) : send(404, 'no such file');
      }
      case '/read': {
        const p = url.searchParams.get('path') ?? '';
        return existsSync(p) ? send(200, readFileSync(p, 'utf8')) : send(404, 'no such file');
      }
      case '/dns':
        return dns.lookup(url.searchParams.get('name') ?? '', { all: true, family: 4 }, (err, addrs) =>
          err ? send(404, { error: err.code }) : send(200, { addresses: addrs.map((a) => a.address) }),
        );
      case '/fetch': {
        const r = await new Promise((resolve) => {
          const q = http.get(url.searchParams.get('url') ?? '', (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode, body }));
          });
          q.setTimeout(3000, () => q.destroy(new Error('timeout')));
          q.on('error', (e) => resolve({ status: 0, body: String(e) }));
        });
        return send(200, r);
      }
      case '/k8s':
        return send(200, await inCluster(url.searchParams.get('path') ?? '/version'));
      default:
        return send(404, 'not found');
    }
  } catch (e) {
    send(500, String(e));
  }
});
server.listen(port, '0.0.0.0', () => console.log(`e2e-app ${pod} listening on ${port}`));

process.on('SIGTERM', () => {
  appendFileSync(join(dataDir, 'sigterm.log'), `SIGTERM ${pod} ${new Date().toISOString()}\n`);
  console.log('SIGTERM: shutting down');
  server.close();
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 100);
});
