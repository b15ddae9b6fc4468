/**
 * One client session of a system under test, reduced to what the workloads need. Each system's
 * driver maps these onto its own Node.js client; README.md explains where the mapping differs.
 */
export interface BenchSession {
  /** overwrites an existing key (ZooKeeper setData with any version, etcd put) */
  put(key: string, value: Buffer): Promise<void>;
  /** reads a key (local read for ZooKeeper and Conclave, etcd's default linearizable range) */
  get(key: string): Promise<void>;
  /** reads a key's value; undefined when it does not exist */
  read(key: string): Promise<Buffer | undefined>;
  /** creates the keys in one transaction (ZooKeeper/Conclave multi, etcd txn) */
  createMany(keys: string[], value: Buffer): Promise<void>;
  /** creates the parent nodes (ZooKeeper, Conclave) if missing; a no-op for etcd's flat key space */
  ensureParents(paths: string[]): Promise<void>;
  /** creates an ephemeral sequential node under `prefix` and deletes it */
  ephemeralCycle(prefix: string, value: Buffer): Promise<void>;
  /** opens a session and closes it (etcd: grants and revokes a lease on this client) */
  sessionCycle(): Promise<void>;
  /** registers a one-shot watch on the next change of `key`; resolves once registered */
  watch(key: string, onFire: () => void): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** per-request timeout, ms */
  requestTimeoutMs?: number;
}

export type SystemName = 'conclave' | 'zookeeper' | 'etcd';

export interface Driver {
  connect(endpoints: string[], options?: ConnectOptions): Promise<BenchSession>;
}
