// The checked-in CRD files are what operator/src/api/crd.ts builds; the dashboard and the alert
// rules only use metrics the server exports (server/src/metrics.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { alertRules } from '../src/builders/monitoring.js';
import { CHART, CRD_FILE, crdYaml, MANIFESTS, REPO } from '../src/generate.js';
import { cluster } from './fixtures.js';

describe('operator generated files', () => {
  it('the chart\'s CRD and manifests/00-crd.yaml are the CRD the operator builds', () => {
    const hint = 'run `npm run -w @conclave/operator generate`';
    assert.equal(readFileSync(path.join(CHART, 'crds', CRD_FILE), 'utf8'), crdYaml(), hint);
    assert.equal(readFileSync(path.join(MANIFESTS, '00-crd.yaml'), 'utf8'), crdYaml(), hint);
  });

  it('the dashboard and the alerts use only metrics the server exports', () => {
    const source = readFileSync(path.join(REPO, 'server', 'src', 'metrics.ts'), 'utf8');
    const exported = new Set([...source.matchAll(/'(conclave_[a-z_]+)'/g)].map((m) => m[1]!));
    const known = (name: string) =>
      exported.has(name.replace(/_(bucket|count|sum)$/, '')) ||
      // prom-client's default process_* and nodejs_* metrics, under the server's prefix
      (/^conclave_(process|nodejs)_/.test(name) && source.includes("prefix: 'conclave_'"));
    const dashboard = readFileSync(path.join(CHART, 'files', 'grafana-dashboard.json'), 'utf8');
    JSON.parse(dashboard);
    const exprs = [dashboard, ...alertRules(cluster()).map((r) => r.expr)].join('\n');
    const used = new Set([...exprs.matchAll(/\b(conclave_[a-z_]+)/g)].map((m) => m[1]!));
    assert.ok(used.size > 10);
    assert.deepEqual([...used].filter((n) => !known(n)), []);
  });

  it('the example resources are valid CoordinationClusters', () => {
    for (const file of ['coordinationcluster.yaml', 'coordinationcluster-production.yaml']) {
      const doc = parse(readFileSync(path.join(MANIFESTS, 'examples', file), 'utf8'));
      assert.equal(doc.apiVersion, 'conclave.dev/v1alpha1');
      assert.equal(doc.kind, 'CoordinationCluster');
      assert.equal(doc.spec.replicas % 2, 1, file);
    }
  });
});
