// Manual use of the test cluster:
//   node e2e/dist/k8s/cli.js up [--nodes N]   start control plane + runner in the background, print KUBECONFIG
//   node e2e/dist/k8s/cli.js env              print the exports of the running cluster
//   node e2e/dist/k8s/cli.js down             stop it (pods, network, processes, temp dir)
//   node e2e/dist/k8s/cli.js logs NS/POD [CONTAINER]          print a container's log
//   node e2e/dist/k8s/cli.js exec NS/POD [CONTAINER] -- CMD   run CMD inside a running container
// (`npm run k8s:up` / `k8s:env` / `k8s:down` at the repository root.)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from './controlplane.js';

const STATE_DIR = process.env.CONCLAVE_K8S_UP_DIR ?? '/tmp/conclave-k8s-up';
const STATE = `${STATE_DIR}/state.json`;
interface State {
  pid: number;
  env: Record<string, string>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const readState = (): State | undefined => (existsSync(STATE) ? (JSON.parse(readFileSync(STATE, 'utf8')) as State) : undefined);
const printEnv = (s: State): void => {
  for (const [k, v] of Object.entries(s.env)) console.log(`export ${k}=${v}`);
};

const [cmd, ...rest] = process.argv.slice(2);
const nodesArg = rest.indexOf('--nodes');
const nodes = nodesArg >= 0 ? Number(rest[nodesArg + 1]) : 3;

switch (cmd) {
  case 'up': {
    const s = readState();
    if (s && alive(s.pid)) {
      console.error(`already running (pid ${s.pid}); \`npm run k8s:down\` first`);
      printEnv(s);
      break;
    }
    mkdirSync(STATE_DIR, { recursive: true });
    rmSync(STATE, { force: true });
    const out = openSync(`${STATE_DIR}/serve.log`, 'w');
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', '--nodes', String(nodes)], { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    console.error(`starting (log: ${STATE_DIR}/serve.log)...`);
    for (;;) {
      await sleep(500);
      const st = readState();
      if (st) {
        console.error(`up. kubectl get nodes works once you export KUBECONFIG:`);
        printEnv(st);
        break;
      }
      if (!alive(child.pid!)) {
        console.error(readFileSync(`${STATE_DIR}/serve.log`, 'utf8'));
        process.exit(1);
      }
    }
    break;
  }
  case 'serve': {
    rmSync(`${STATE_DIR}/cluster`, { recursive: true, force: true });
    const cluster = await startCluster({ nodes, dir: `${STATE_DIR}/cluster`, log: (l) => console.log(`[k8s] ${l}`) });
    writeFileSync(STATE, JSON.stringify({ pid: process.pid, env: cluster.env } satisfies State, null, 2));
    const stop = (): void => {
      console.log('stopping');
      void cluster.stop().finally(() => {
        rmSync(STATE, { force: true });
        process.exit(0);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    break;
  }
  case 'env': {
    const s = readState();
    if (!s || !alive(s.pid)) {
      console.error('not running');
      process.exit(1);
    }
    printEnv(s);
    break;
  }
  case 'down': {
    const s = readState();
    if (!s || !alive(s.pid)) {
      console.error('not running');
      rmSync(STATE, { force: true });
      break;
    }
    process.kill(s.pid, 'SIGTERM');
    while (alive(s.pid)) await sleep(200);
    console.error('stopped');
    break;
  }
  case 'logs':
  case 'exec': {
    const s = readState();
    const dir = s?.env.CONCLAVE_K8S_DIR ?? process.env.CONCLAVE_K8S_DIR;
    const [target, maybeContainer] = rest;
    if (!dir || !target?.includes('/')) {
      console.error(`usage: cli.js ${cmd} NAMESPACE/POD [CONTAINER]${cmd === 'exec' ? ' -- CMD...' : ''} (cluster of k8s:up, or CONCLAVE_K8S_DIR)`);
      process.exit(2);
    }
    const podDir = join(dir, 'logs', target);
    const containers = existsSync(podDir) ? readdirSync(podDir).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)) : [];
    const container = maybeContainer && maybeContainer !== '--' ? maybeContainer : containers[0];
    if (!container) {
      console.error(`no containers of ${target} under ${podDir}`);
      process.exit(1);
    }
    if (cmd === 'logs') {
      process.stdout.write(readFileSync(join(podDir, `${container}.log`)));
      break;
    }
    const argv = rest.includes('--') ? rest.slice(rest.indexOf('--') + 1) : ['sh'];
    const pid = readFileSync(join(podDir, `${container}.pid`), 'utf8').trim();
    const env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const r = spawnSync('nsenter', ['-t', pid, '-n', '-m', '-u', '--wd', '--', ...argv], { stdio: 'inherit', env });
    process.exit(r.status ?? 1);
  }
  default:
    console.error('usage: cli.js up [--nodes N] | env | down | logs NS/POD [CONTAINER] | exec NS/POD [CONTAINER] -- CMD...');
    process.exit(2);
}
