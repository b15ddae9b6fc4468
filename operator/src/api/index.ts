/** The CoordinationCluster API: types, defaults, validation and the CRD. */
export * from './types.js';
export * from './defaults.js';
export * from './validation.js';
export { buildCrd, REPLICAS_MESSAGE } from './crd.js';
