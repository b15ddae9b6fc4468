import { conclaveDriver } from './conclave.js';
import { etcdDriver } from './etcd.js';
import type { Driver, SystemName } from './types.js';
import { zookeeperDriver } from './zookeeper.js';

export * from './types.js';

export const drivers: Record<SystemName, Driver> = { conclave: conclaveDriver, zookeeper: zookeeperDriver, etcd: etcdDriver };
