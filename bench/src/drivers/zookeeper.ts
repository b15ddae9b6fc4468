/** ZooKeeper through node-zookeeper-client: one TCP connection per session, requests pipelined. */
import zookeeper from 'node-zookeeper-client';
import type { BenchSession, ConnectOptions, Driver } from './types.js';

type Callback<T> = (error: Error | zookeeper.Exception | null, result: T) => void;

const call = <T>(fn: (cb: Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result))));

const code = (error: unknown): number | undefined => (error instanceof zookeeper.Exception ? error.getCode() : undefined);

function open(endpoints: string[], timeoutMs: number): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(endpoints.join(','), { sessionTimeout: 10_000, spinDelay: 100, retries: 0 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`zookeeper: no session with ${endpoints.join(',')} within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

function close(client: zookeeper.Client): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5_000);
    client.once('disconnected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.close();
  });
}

class ZooKeeperSession implements BenchSession {
  constructor(private readonly client: zookeeper.Client, private readonly endpoints: string[]) {}

  async put(key: string, value: Buffer): Promise<void> {
    await call<unknown>((cb) => this.client.setData(key, value, -1, cb));
  }

  async get(key: string): Promise<void> {
    await call<Buffer>((cb) => this.client.getData(key, cb));
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return await call<Buffer>((cb) => this.client.getData(key, cb));
    } catch (error) {
      if (code(error) === zookeeper.Exception.NO_NODE) return undefined;
      throw error;
    }
  }

  async createMany(keys: string[], value: Buffer): Promise<void> {
    const tx = this.client.transaction();
    for (const key of keys) tx.create(key, value, zookeeper.CreateMode.PERSISTENT);
    await call<unknown>((cb) => tx.commit(cb));
  }

  async ensureParents(paths: string[]): Promise<void> {
    for (const path of paths) await call<string>((cb) => this.client.mkdirp(path, cb));
  }

  async ephemeralCycle(prefix: string, value: Buffer): Promise<void> {
    const path = await call<string>((cb) => this.client.create(`${prefix}/e-`, value, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb));
    await call<void>((cb) => this.client.remove(path, -1, (error) => cb(error, undefined)));
  }

  async sessionCycle(): Promise<void> {
    await close(await open(this.endpoints, 10_000));
  }

  async watch(key: string, onFire: () => void): Promise<void> {
    await call<Buffer>((cb) => this.client.getData(key, () => onFire(), cb));
  }

  close(): Promise<void> {
    return close(this.client);
  }
}

export const zookeeperDriver: Driver = {
  async connect(endpoints: string[], options: ConnectOptions = {}): Promise<BenchSession> {
    return new ZooKeeperSession(await open(endpoints, options.requestTimeoutMs ?? 15_000), endpoints);
  },
};
