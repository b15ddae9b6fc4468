/** @conclave/operator: the CoordinationCluster API, the pure builders and the planners, for tests and tools. */
export * from './api/index.js';
export * from './builders/index.js';
export { plan, type Plan, type Step } from './controller/plan.js';
export { computeStatus } from './controller/status.js';
export { expectedClusterId } from './controller/observe.js';
export type { Observed, ObservedPod, ObservedRaft, MemberReport } from './controller/observed.js';
export { reconcile } from './controller/reconcile.js';
export { Kube } from './controller/kube.js';
export { AdminClients } from './controller/admin.js';
export { crdYaml, renderOperatorManifest, CHART, MANIFESTS, MANIFEST_RELEASE } from './generate.js';
