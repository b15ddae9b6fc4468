/**
 * etcd through etcd3 (grpc-js). etcd has no sessions, ephemeral or sequential keys: a session is a
 * lease (as in etcd's own concurrency package), an ephemeral key is a key attached to the session's
 * lease, and the sequence number is made by the client. Reads are etcd's default, linearizable.
 * Retries and circuit breakers are off so that the numbers show the server, not the policy.
 */
import { Etcd3, type Lease } from 'etcd3';
import { noop } from 'cockatiel';
import type { BenchSession, ConnectOptions, Driver } from './types.js';

let sequence = 0;

class EtcdSession implements BenchSession {
  private lease: Lease | undefined;

  constructor(private readonly client: Etcd3) {}

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.put(key).value(value);
  }

  async get(key: string): Promise<void> {
    await this.client.get(key).buffer();
  }

  async read(key: string): Promise<Buffer | undefined> {
    return (await this.client.get(key).buffer()) ?? undefined;
  }

  async createMany(keys: string[], value: Buffer): Promise<void> {
    await this.client.kv.txn({ success: keys.map((key) => ({ request_put: { key: Buffer.from(key), value } })) });
  }

  async ensureParents(): Promise<void> {}

  async ephemeralCycle(prefix: string, value: Buffer): Promise<void> {
    if (!this.lease) {
      this.lease = this.client.lease(30);
      await this.lease.grant();
      // the grant is answered once committed, maybe before this member applied it: a linearizable
      // read waits until it has, so that the first put does not fail with "lease not found"
      await this.client.get('/bench-sync').buffer();
    }
    const key = `${prefix}/e-${process.pid}-${String(++sequence).padStart(10, '0')}`;
    await this.lease.put(key).value(value);
    await this.client.delete().key(key);
  }

  async sessionCycle(): Promise<void> {
    const lease = this.client.lease(10, { autoKeepAlive: false });
    await lease.grant();
    await lease.revoke();
  }

  async watch(key: string, onFire: () => void): Promise<void> {
    const watcher = await this.client.watch().key(key).create();
    watcher.once('put', () => {
      onFire();
      void watcher.cancel();
    });
  }

  async close(): Promise<void> {
    if (this.lease) await this.lease.revoke().catch(() => undefined);
    this.client.close();
  }
}

export const etcdDriver: Driver = {
  async connect(endpoints: string[], options: ConnectOptions = {}): Promise<BenchSession> {
    const timeout = options.requestTimeoutMs ?? 15_000;
    const client = new Etcd3({
      hosts: endpoints.map((e) => `http://${e}`),
      dialTimeout: timeout,
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    });
    // grpc-js fails calls at once while the channel connects (no retry policy here): try until the deadline
    const deadline = Date.now() + timeout;
    for (;;) {
      try {
        await client.get('/bench-connect').buffer();
        return new EtcdSession(client);
      } catch (error) {
        if (Date.now() > deadline) {
          client.close();
          throw error;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  },
};
