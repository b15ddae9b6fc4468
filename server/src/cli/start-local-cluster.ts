#!/usr/bin/env node
/**
 * `npm start`: a 3-member Conclave cluster on this machine, each member a conclave-server process
 * with its data under ./data/member-<id>. Prints how to reach it; Ctrl-C stops all members cleanly.
 *
 * Environment: CONCLAVE_MEMBERS (default 3), CONCLAVE_DATA (default ./data), CONCLAVE_BASE_PORT
 * (default 2281: member i listens on client port 2281+i-1, peer port 2882+i-1, metrics 9281+i-1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEMBER_NODE_FLAGS } from './node-flags.js';

const members = Number(process.env.CONCLAVE_MEMBERS ?? 3);
const dataRoot = path.resolve(process.env.CONCLAVE_DATA ?? 'data');
const clientBase = Number(process.env.CONCLAVE_BASE_PORT ?? 2281);
const peerBase = clientBase + 601;
const metricsBase = clientBase + 7000;
const main = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

if (![1, 3, 5, 7, 9].includes(members)) {
  process.stderr.write(`CONCLAVE_MEMBERS must be 1, 3, 5, 7 or 9, not ${members}\n`);
  process.exit(2);
}

const ids = Array.from({ length: members }, (_, i) => i + 1);
const initialCluster = ids.map((id) => `${id}=127.0.0.1:${peerBase + id - 1}/127.0.0.1:${clientBase + id - 1}`).join(',');
const children = new Map<number, ChildProcess>();
let stopping = false;

for (const id of ids) {
  const dataDir = path.join(dataRoot, `member-${id}`);
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      ...MEMBER_NODE_FLAGS,
      main,
      '--id', String(id),
      '--data-dir', dataDir,
      '--host', '127.0.0.1',
      '--advertise-host', '127.0.0.1',
      '--client-port', String(clientBase + id - 1),
      '--peer-port', String(peerBase + id - 1),
      '--metrics-port', String(metricsBase + id - 1),
      ...(members > 1 ? ['--initial-cluster', initialCluster] : []),
      '--log-level', process.env.CONCLAVE_LOG_LEVEL ?? 'warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.set(id, child);
  child.on('exit', (code, signal) => {
    children.delete(id);
    if (!stopping) process.stderr.write(`member ${id} exited (${signal ?? code}); see its log above\n`);
    if (children.size === 0) process.exit(stopping ? 0 : 1);
  });
}

const endpoints = ids.map((id) => `127.0.0.1:${clientBase + id - 1}`).join(',');
process.stdout.write(`Conclave: ${members} member${members > 1 ? 's' : ''} starting, data in ${dataRoot}

  endpoints   ${endpoints}
  metrics     ${ids.map((id) => `http://127.0.0.1:${metricsBase + id - 1}/metrics`).join(' ')}

Try it (in another terminal):
  export CONCLAVE_ENDPOINTS=${endpoints}
  npx conclave create /hello world
  npx conclave get /hello
  npx conclave cluster status

Ctrl-C stops the cluster.
`);

const stop = (signal: NodeJS.Signals) => {
  if (stopping) {
    for (const child of children.values()) child.kill('SIGKILL');
    return;
  }
  stopping = true;
  process.stdout.write('\nstopping the cluster...\n');
  for (const child of children.values()) child.kill(signal);
};
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));
