/**
 * The members' config file (server/src/config.ts keys). One file for every member: the id comes
 * from the pod's host name (ordinal + 1), the advertised host from the pod name (env).
 *
 * The cluster is founded by member 1 alone (initialCluster names only it) and grows by adding
 * learners: the founders, and so the Raft cluster id derived from them and the token (the
 * resource's uid), are a function of the resource and never need remembering. Once the cluster is
 * founded, `join: true`: a member that starts with an empty volume waits to be added, it never
 * founds a second cluster.
 */
import type { CoordinationCluster, ServerSettings } from '../api/types.js';
import { stringify } from 'yaml';
import { canonicalJson, CONFIG_FILE, DATA_DIR, digest, memberAddresses, metadata, names, PORTS, type KubeObject } from './common.js';

export const FOUNDER_ID = 1;

/** "1=<pod-0 host>:2882/<pod-0 host>:2281": the founding member. */
export function initialCluster(c: CoordinationCluster): string {
  const a = memberAddresses(c, FOUNDER_ID);
  return `${FOUNDER_ID}=${a.peerAddress}/${a.clientAddress}`;
}

/** Settings whose change needs the members restarted (everything but `join`). */
export function restartSettings(c: CoordinationCluster): Record<string, unknown> {
  const settings: ServerSettings = c.spec.config ?? {};
  return {
    idFromHostname: true,
    dataDir: DATA_DIR,
    clientPort: PORTS.client,
    peerPort: PORTS.peer,
    metricsPort: PORTS.metrics,
    initialCluster: initialCluster(c),
    clusterToken: c.metadata.uid,
    ...settings,
  };
}

/** The digest put on the pod template: a settings change rolls the members. */
export const configHash = (c: CoordinationCluster): string => digest(canonicalJson(restartSettings(c)));

export function buildConfigMap(c: CoordinationCluster, founded: boolean): KubeObject {
  const file = { ...restartSettings(c), join: founded };
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(c, names(c).configMap),
    data: {
      [CONFIG_FILE]: `# Written by the Conclave operator for CoordinationCluster ${c.metadata.name}; edits are overwritten.\n${stringify(file)}`,
    },
  };
}
