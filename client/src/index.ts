/** @conclave/client: the Conclave client library. */
export { Conclave, type ConnectOptions, type WatchStream } from './client.js';
export { ConnectionLossError } from './session.js';
export { parseEndpoints, DEFAULT_ENDPOINTS } from './endpoints.js';
export * from './types.js';
export * from '@conclave/proto/errors';
