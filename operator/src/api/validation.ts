/**
 * The operator's own check of a spec before acting on it. The API server already enforces the same
 * rules through the CRD schema; this guards against a CRD that is older than the operator, and
 * names the problem in the Degraded condition instead of acting on a bad spec.
 */
import { REPLICAS_MESSAGE } from './crd.js';
import type { CoordinationClusterSpec } from './types.js';

export const MAX_REPLICAS = 9;

export function validateSpec(spec: CoordinationClusterSpec): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(spec.replicas) || spec.replicas < 1 || spec.replicas > MAX_REPLICAS || spec.replicas % 2 === 0) {
    problems.push(`spec.replicas ${spec.replicas}: ${REPLICAS_MESSAGE}`);
  }
  if (typeof spec.version !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(spec.version)) {
    problems.push(`spec.version ${JSON.stringify(spec.version)} is not an image tag`);
  }
  const c = spec.config ?? {};
  if (c.minSessionTimeoutMs !== undefined && c.maxSessionTimeoutMs !== undefined && c.minSessionTimeoutMs > c.maxSessionTimeoutMs) {
    problems.push('spec.config.minSessionTimeoutMs exceeds maxSessionTimeoutMs');
  }
  return problems;
}

/** Votes needed for a majority of `voters`. */
export const quorum = (voters: number): number => Math.floor(voters / 2) + 1;
