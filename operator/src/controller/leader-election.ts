/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection: one operator
 * replica acts, the others stand by. The holder renews the lease every `renewMs`; a candidate takes
 * it when it has not been renewed for `leaseMs`. Updates carry the resourceVersion, so two
 * candidates never both win. A holder that cannot renew in time stops acting (the process exits:
 * a fresh start is simpler to reason about than resuming after a lost lease).
 */
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { isConflict, isNotFound, type Kube } from './kube.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseMs: number;
  renewMs: number;
  log: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kube: Kube,
    private readonly options: LeaderElectionOptions,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this replica leads; calls onLost if it stops leading without being stopped. */
  async acquire(onLost: () => void): Promise<void> {
    const { renewMs, leaseMs } = this.options;
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped');
      if (await this.tryAcquireOrRenew()) break;
      await sleep(renewMs);
    }
    this.leading = true;
    this.options.log('info', 'became leader', { lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity });
    const tick = async () => {
      if (this.stopped) return;
      const ok = await this.tryAcquireOrRenew();
      if (!ok && Date.now() - this.lastRenew > leaseMs - renewMs) {
        this.leading = false;
        this.options.log('warn', 'lost the leader lease');
        onLost();
        return;
      }
      this.timer = setTimeout(() => void tick(), renewMs);
    };
    this.timer = setTimeout(() => void tick(), renewMs);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseMs } = this.options;
    const now = new V1MicroTime();
    const leaseDurationSeconds = Math.ceil(leaseMs / 1000);
    try {
      let lease: V1Lease;
      try {
        lease = await this.kube.coordination.readNamespacedLease({ name, namespace });
      } catch (e) {
        if (!isNotFound(e)) throw e;
        await this.kube.coordination.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
        this.lastRenew = Date.now();
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expired = !holder || Date.now() > renewedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (holder !== identity && !expired) return false;
      lease.spec = {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: now,
        ...(holder !== identity ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
      };
      await this.kube.coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.lastRenew = Date.now();
      return true;
    } catch (e) {
      if (!isConflict(e)) this.options.log('warn', 'leader election: lease update failed', { error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }

  /** Stops renewing and, when leading, gives the lease up so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, identity } = this.options;
    try {
      const lease = await this.kube.coordination.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime() };
      await this.kube.coordination.replaceNamespacedLease({ name, namespace, body: lease });
    } catch {
      // The lease expires on its own.
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
