/**
 * Two Services: the headless one gives each member a stable DNS name (published before the pod is
 * ready, so peers resolve a starting member: no NXDOMAIN at start-up), the client one load-balances
 * over ready members.
 */
import type { CoordinationCluster } from '../api/types.js';
import { metadata, names, PORTS, selectorLabels, type KubeObject } from './common.js';

export function buildPeerService(c: CoordinationCluster): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(c, names(c).peerService, { labels: { 'conclave.dev/service': 'peers' } }),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(c),
      ports: [
        { name: 'peer', port: PORTS.peer, targetPort: 'peer', protocol: 'TCP' },
        { name: 'client', port: PORTS.client, targetPort: 'client', protocol: 'TCP' },
        { name: 'metrics', port: PORTS.metrics, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  };
}

export function buildClientService(c: CoordinationCluster): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(c, names(c).clientService, { labels: { 'conclave.dev/service': 'client' }, annotations: c.spec.service.annotations ?? {} }),
    spec: {
      type: c.spec.service.type,
      selector: selectorLabels(c),
      ports: [{ name: 'client', port: PORTS.client, targetPort: 'client', protocol: 'TCP' }],
    },
  };
}
