// Entry point of the pod runner process: `node runner-main.js <config.json>` (written by
// controlplane.ts). Stops its pods and removes its network on SIGTERM/SIGINT.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { E2E_DIR, REPO_DIR } from './controlplane.js';
import { Kube } from './kube.js';
import { subnetOf } from './netns.js';
import { substituteRule, type ImageRule } from './podspec.js';
import { Runner } from './runner.js';

interface Config {
  kubeconfig: string;
  nodes: string[];
  runDir: string;
  subnet: string;
  serviceCidr: string;
  tag: string;
  apiServerPort: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  kubeletVersion: string;
  images?: string;
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Config;
const log = (line: string): void => void process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const imagesFile = cfg.images ?? process.env.CONCLAVE_K8S_IMAGES ?? join(E2E_DIR, 'k8s', 'images.yaml');
const rules = ((parseYaml(readFileSync(imagesFile, 'utf8')) as { images: ImageRule[] }).images ?? []).map((r) =>
  substituteRule(r, { REPO: REPO_DIR, E2E: E2E_DIR }),
);

const runner = new Runner({
  kube: Kube.fromKubeconfig(cfg.kubeconfig),
  nodes: cfg.nodes,
  runDir: cfg.runDir,
  subnet: subnetOf(cfg.subnet),
  serviceCidr: cfg.serviceCidr,
  tag: cfg.tag,
  apiServerPort: cfg.apiServerPort,
  images: rules,
  backoffInitialMs: cfg.backoffInitialMs,
  backoffMaxMs: cfg.backoffMaxMs,
  capacity: { cpu: '16', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
  kubeletVersion: cfg.kubeletVersion,
  log,
});

let stopping = false;
const shutdown = (sig: string): void => {
  if (stopping) return;
  stopping = true;
  log(`${sig}: stopping pods and the pod network`);
  runner
    .stop()
    .catch((e) => log(`stop: ${String(e)}`))
    .finally(() => process.exit(0));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('unhandledRejection', (e) => log(`unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));

try {
  await runner.start();
  writeFileSync(join(cfg.runDir, 'runner.ready'), String(process.pid));
} catch (e) {
  log(`runner failed to start: ${e instanceof Error ? e.stack : String(e)}`);
  await runner.stop().catch(() => undefined);
  process.exit(1);
}
