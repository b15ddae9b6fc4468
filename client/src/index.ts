/** @conclave/client: the Conclave client library, its recipes, and the admin and lease APIs. */
export { Conclave, type ConnectOptions, type WatchStream } from './client.js';
export { ConnectionLossError } from './session.js';
export { ClusterAdmin, type AdminOptions, type MemberStatus, type MemberInfo, type Membership, type MemberRole } from './admin.js';
export { Leases, LeaseKeepAlive, type LeaseGrant, type LeaseInfo, type LeaseTimeToLive } from './leases.js';
export { parseEndpoints, DEFAULT_ENDPOINTS } from './endpoints.js';
export * from './recipes/index.js';
export * from './types.js';
export * from '@conclave/proto/errors';
