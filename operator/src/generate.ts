/**
 * Writes the generated files: the CRD (from api/crd.ts) into the chart and manifests/, and
 * manifests/operator.yaml rendered from the chart with `helm template` (when helm is found:
 * $HELM, $CONCLAVE_K8S_BIN/helm, or the Kubernetes test harness's cache). Tests fail when the
 * checked-in files differ from what this writes. Run: npm run -w @conclave/operator generate
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildCrd } from './api/crd.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CHART = path.join(REPO, 'charts', 'conclave-operator');
export const CRD_FILE = 'coordinationclusters.conclave.dev.yaml';
export const MANIFESTS = path.join(REPO, 'manifests');
/** The release manifests/operator.yaml is rendered as (helm template NAME --namespace NS). */
export const MANIFEST_RELEASE = { name: 'conclave-operator', namespace: 'conclave-system' };

const HEADER = '# Generated from operator/src/api/crd.ts by `npm run -w @conclave/operator generate`: do not edit.\n';

export const crdYaml = (): string => HEADER + stringify(buildCrd(), { lineWidth: 0 });

export function findHelm(): string | undefined {
  const candidates = [process.env.HELM, process.env.CONCLAVE_K8S_BIN && path.join(process.env.CONCLAVE_K8S_BIN, 'helm')];
  const cache = process.env.CONCLAVE_K8S_CACHE ?? path.join(os.homedir(), '.cache', 'conclave-k8s');
  if (existsSync(cache)) for (const v of readdirSync(cache)) candidates.push(path.join(cache, v, 'bin', 'helm'));
  return candidates.find((c): c is string => !!c && existsSync(c));
}

/** The operator manifests as `kubectl apply -f manifests/` installs them: the chart with its defaults. */
export function renderOperatorManifest(helm: string): string {
  const out = execFileSync(helm, ['template', MANIFEST_RELEASE.name, CHART, '--namespace', MANIFEST_RELEASE.namespace, '--skip-crds'], { encoding: 'utf8' });
  const namespace = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${MANIFEST_RELEASE.namespace}\n`;
  return `# Rendered from charts/conclave-operator with its default values by \`npm run -w @conclave/operator generate\`: do not edit.\n---\n${namespace}${out}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(path.join(CHART, 'crds', CRD_FILE), crdYaml());
  writeFileSync(path.join(MANIFESTS, '00-crd.yaml'), crdYaml());
  const helm = findHelm();
  if (!helm) {
    process.stderr.write('helm not found (set HELM or run `npm run test:k8s` once): manifests/operator.yaml not rendered\n');
    process.exit(1);
  }
  writeFileSync(path.join(MANIFESTS, '10-operator.yaml'), renderOperatorManifest(helm));
  process.stdout.write('wrote the CRD into the chart and manifests/, and manifests/10-operator.yaml\n');
}
