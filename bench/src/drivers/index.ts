import type { Driver, SystemName } from './types.js';

export * from './types.js';

/**
 * Loads one system's driver. Lazily, on purpose: @conclave/proto sets protobufjs's util.Long to
 * undefined for the whole process (64-bit integers decode to plain numbers), which silently rounds
 * etcd3's 64-bit lease ids ("requested lease not found") when both are loaded in one process. A
 * worker process loads only the driver of the system it drives.
 */
export async function loadDriver(system: SystemName): Promise<Driver> {
  switch (system) {
    case 'conclave':
      return (await import('./conclave.js')).conclaveDriver;
    case 'zookeeper':
      return (await import('./zookeeper.js')).zookeeperDriver;
    case 'etcd':
      return (await import('./etcd.js')).etcdDriver;
  }
}
