/**
 * Leader election on sequential ephemeral candidate nodes (Curator's LeaderSelector and
 * LeaderLatch, etcd's Election): the candidate with the lowest sequence leads; every other one
 * watches only the candidate before it. The fencing token is the czxid of the leader's node.
 *
 * Leadership is reported lost (the Leadership's `signal` aborts) as soon as it may be: when the
 * connection is lost (the session is suspended and could expire unseen), when the session expires
 * or the client closes, and when the candidate node is deleted. The candidate node is then deleted
 * too, and a new campaign gets a new, higher token.
 *
 *   const election = new LeaderElection(client, '/elections/scheduler', { id: 'node-a' });
 *   const leadership = await election.campaign();
 *   runScheduler({ fencingToken: leadership.token, signal: leadership.signal });
 */
import { SessionExpiredError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import { sleep } from './internal.js';
import { firstInLine, SequentialLock, type AcquireOptions, type LockOptions, type Participant } from './lock.js';

export interface Leadership {
  /** fencing token: unique to this term of leadership, higher than every earlier one */
  readonly token: number;
  /** aborts (with the reason) when leadership is lost */
  readonly signal: AbortSignal;
  /** Gives up leadership (deletes the candidate node). */
  resign(): Promise<void>;
}

export class LeaderElection {
  private readonly lock: SequentialLock;
  private current: Leadership | undefined;

  constructor(
    private readonly client: Conclave,
    readonly path: string,
    options: LockOptions = {},
  ) {
    this.lock = new SequentialLock(client, path, 'candidate-', firstInLine, { ...options, lostOnDisconnect: true });
  }

  get isLeader(): boolean {
    return this.lock.isHeld;
  }

  /** Waits until this candidate leads (at once if it already does). */
  async campaign(options: AcquireOptions = {}): Promise<Leadership> {
    if (this.current && this.lock.isHeld) return this.current;
    const token = await this.lock.acquire(options);
    const signal = this.lock.signal!;
    const leadership: Leadership = {
      token,
      signal,
      resign: async () => {
        if (this.current !== leadership) return;
        this.current = undefined;
        await this.lock.release();
      },
    };
    signal.addEventListener('abort', () => {
      if (this.current === leadership) this.current = undefined;
    }, { once: true });
    this.current = leadership;
    return leadership;
  }

  /** The current leader, or null when there are no candidates. */
  async leader(): Promise<Participant | null> {
    return (await this.lock.participants())[0] ?? null;
  }

  /** Every candidate, the leader first. */
  candidates(): Promise<Participant[]> {
    return this.lock.participants();
  }

  /**
   * Calls `listener` with the leader now and each time it changes (null: no candidate), until the
   * returned function is called. Built on a persistent watch on the election's path.
   */
  async observe(listener: (leader: Participant | null) => void): Promise<() => Promise<void>> {
    let last: string | undefined;
    let running = Promise.resolve();
    const look = () => {
      running = running.then(async () => {
        const leader = await this.leader().catch(() => undefined);
        if (leader === undefined) return;
        const key = leader ? `${leader.path}` : '';
        if (key === last) return;
        last = key;
        listener(leader);
      });
    };
    const remove = await this.client.addWatch(this.path, (event) => event.type !== 'NODE_DATA_CHANGED' && look());
    look();
    return async () => {
      await remove().catch(() => undefined);
      await running;
    };
  }
}

/**
 * A leader latch (Curator's LeaderLatch): joins the election in the background and keeps
 * campaigning after each loss, until closed; hasLeadership and onChange tell the current state.
 *
 *   const latch = new LeaderLatch(client, '/elections/compactor');
 *   latch.start();
 *   await latch.await();   // leading now
 */
export class LeaderLatch {
  private readonly election: LeaderElection;
  private readonly closing = new AbortController();
  private readonly listeners = new Set<(isLeader: boolean) => void>();
  private leadership: Leadership | undefined;
  private loop: Promise<void> | undefined;
  /** why the latch stopped campaigning on its own (the session ended) */
  error: Error | undefined;

  constructor(client: Conclave, path: string, options: LockOptions = {}) {
    this.election = new LeaderElection(client, path, options);
  }

  get hasLeadership(): boolean {
    return this.leadership !== undefined && !this.leadership.signal.aborted;
  }

  /** The current leadership's fencing token, while leading. */
  get fencingToken(): number | undefined {
    return this.hasLeadership ? this.leadership!.token : undefined;
  }

  /** Starts campaigning (once). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves when this latch leads; rejects if it stops (closed, session ended) or the signal aborts. */
  await(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.hasLeadership) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => {
        stop();
        options.signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = () => done(options.signal!.reason);
      const stop = this.onChange((leading) => {
        if (leading) done();
        else if (this.error || this.closing.signal.aborted) done(this.error ?? new Error('the latch was closed'));
      });
      if (this.error || this.closing.signal.aborted) return done(this.error ?? new Error('the latch was closed'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Listens to leadership changes; returns the function that stops listening. */
  onChange(listener: (isLeader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops campaigning and gives up leadership. */
  async close(): Promise<void> {
    this.closing.abort(new Error('the latch was closed'));
    await this.loop;
    this.notify(false);
  }

  private notify(isLeader: boolean): void {
    for (const listener of [...this.listeners]) listener(isLeader);
  }

  private async run(): Promise<void> {
    const closed = this.closing.signal;
    while (!closed.aborted) {
      try {
        this.leadership = await this.election.campaign({ signal: closed });
        this.notify(true);
        const leadership = this.leadership;
        await new Promise<void>((resolve) => {
          if (leadership.signal.aborted || closed.aborted) return resolve();
          leadership.signal.addEventListener('abort', () => resolve(), { once: true });
          closed.addEventListener('abort', () => resolve(), { once: true });
        });
        await leadership.resign().catch(() => undefined);
        this.leadership = undefined;
        if (!closed.aborted) this.notify(false);
      } catch (error) {
        this.leadership = undefined;
        if (closed.aborted) break;
        if (error instanceof SessionExpiredError || (error as { code?: string }).code === 'SESSION_EXPIRED') {
          this.error = error as Error;
          this.notify(false);
          break;
        }
        await sleep(100, closed).catch(() => undefined);
      }
    }
  }
}
