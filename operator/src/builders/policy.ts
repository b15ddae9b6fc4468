/** The PodDisruptionBudget and the members' ServiceAccount. */
import { quorum } from '../api/validation.js';
import type { CoordinationCluster } from '../api/types.js';
import { metadata, names, selectorLabels, type KubeObject } from './common.js';

/**
 * minAvailable = a quorum of the larger of the desired and the current voters: while a scale-down
 * from 5 to 3 is in progress the cluster still needs 3 members, not 2.
 */
export function buildPodDisruptionBudget(c: CoordinationCluster, currentVoters: number): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(c, names(c).pdb),
    spec: {
      minAvailable: quorum(Math.max(c.spec.replicas, currentVoters)),
      selector: { matchLabels: selectorLabels(c) },
    },
  };
}

/** Members never call the Kubernetes API: no token is mounted. */
export function buildServiceAccount(c: CoordinationCluster): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: metadata(c, names(c).serviceAccount),
    automountServiceAccountToken: false,
  };
}
