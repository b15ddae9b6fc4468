/** The server uses the one typed error set shared with clients (proto/src/errors.ts). */
export * from '@conclave/proto/errors';
