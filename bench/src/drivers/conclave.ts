/** Conclave through @conclave/client: one session stream per session, requests pipelined. */
import { Conclave } from '@conclave/client';
import type { BenchSession, ConnectOptions, Driver } from './types.js';

const isCode = (error: unknown, code: string) => (error as { code?: string } | undefined)?.code === code;

class ConclaveSession implements BenchSession {
  constructor(private readonly client: Conclave, private readonly endpoints: string[], private readonly options: ConnectOptions) {}

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.set(key, value);
  }

  async get(key: string): Promise<void> {
    await this.client.get(key);
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return (await this.client.get(key)).data;
    } catch (error) {
      if (isCode(error, 'NO_NODE')) return undefined;
      throw error;
    }
  }

  async createMany(keys: string[], value: Buffer): Promise<void> {
    await this.client.multi(keys.map((path) => ({ op: 'create', path, data: value })));
  }

  async ensureParents(paths: string[]): Promise<void> {
    for (const path of paths) {
      const parts = path.split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        try {
          await this.client.create('/' + parts.slice(0, i).join('/'));
        } catch (error) {
          if (!isCode(error, 'NODE_EXISTS')) throw error;
        }
      }
    }
  }

  async ephemeralCycle(prefix: string, value: Buffer): Promise<void> {
    const path = await this.client.create(`${prefix}/e-`, value, { kind: 'EPHEMERAL_SEQUENTIAL' });
    await this.client.delete(path);
  }

  async sessionCycle(): Promise<void> {
    const other = await connect(this.endpoints, this.options);
    await other.close();
  }

  async watch(key: string, onFire: () => void): Promise<void> {
    await this.client.get(key, { watch: () => onFire() });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

const connect = (endpoints: string[], options: ConnectOptions) =>
  Conclave.connect({ endpoints, requestTimeoutMs: options.requestTimeoutMs ?? 15_000, connectTimeoutMs: 5_000, maxInFlight: 1_000 });

export const conclaveDriver: Driver = {
  async connect(endpoints: string[], options: ConnectOptions = {}): Promise<BenchSession> {
    return new ConclaveSession(await connect(endpoints, options), endpoints, options);
  },
};
