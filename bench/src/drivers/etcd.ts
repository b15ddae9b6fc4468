/**
 * etcd through etcd3 (grpc-js). etcd has no sessions, ephemeral or sequential keys: a session is a
 * lease (as in etcd's own concurrency package), an ephemeral key is a key attached to the session's
 * lease, and the sequence number is made by the client. Reads are etcd's default, linearizable.
 * Retries and circuit breakers are off so that the numbers show the server, not the policy.
 */
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import type { BenchSession, ConnectOptions, Driver } from './types.js';

let sequence = 0;

class EtcdSession implements BenchSession {
  private leaseId: Promise<string> | undefined;

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
    // The session's lease, granted once (raw RPCs: etcd3's Lease helper lost its lease under load here).
    this.leaseId ??= this.client.leaseClient.leaseGrant({ TTL: 60 }).then(async (r) => {
      // answered once committed, maybe before this member applied it: a linearizable read waits for that
      await this.client.get('/bench-sync').buffer();
      return r.ID;
    });
    const lease = this.leaseId;
    const key = `${prefix}/e-${process.pid}-${String(++sequence).padStart(10, '0')}`;
    try {
      await this.client.put(key).value(value).lease(await lease);
    } catch (error) {
      if (this.leaseId === lease) this.leaseId = undefined;
      throw error;
    }
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
    if (this.leaseId) await this.leaseId.then((ID) => this.client.leaseClient.leaseRevoke({ ID })).catch(() => undefined);
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
