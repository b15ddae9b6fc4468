/**
 * Locks on sequential ephemeral nodes (ZooKeeper's lock recipe, as Curator's InterProcessMutex and
 * InterProcessReadWriteLock): each contender creates a protected node under the lock's path and
 * holds the lock when the nodes before it allow it; otherwise it watches exactly one node before
 * it (no herd). The fencing token is the czxid of the holder's node: it differs for every grant
 * and increases from one holder to the next, so a resource can refuse a stale holder's writes.
 *
 *   const lock = new Mutex(client, '/locks/payments');
 *   await lock.withLock(async (token) => pay({ fencingToken: token }));
 */
import { hostname } from 'node:os';
import { NoNodeError, TimeoutError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import {
  createProtected,
  deadline,
  deleteQuietly,
  Holding,
  isTimeout,
  joinPath,
  retry,
  sortBySequence,
  validateDir,
  waitForDeletion,
  type CreatedNode,
} from './internal.js';

export interface AcquireOptions {
  signal?: AbortSignal;
  /** give up after this many ms: acquire() rejects with a TimeoutError, tryAcquire() resolves false */
  timeoutMs?: number;
}

export interface LockOptions {
  /** stored in the lock node, so that others can see who holds or waits (default host:pid) */
  id?: string;
}

/** What a contender's position means: hold it now, or wait for the named node to go. */
export type Verdict = { acquired: true } | { acquired: false; watch: string };

/** Decides from the contenders in queue order and this contender's index. */
export type Predicate = (contenders: string[], index: number) => Verdict;

/** The mutex rule (and the write lock's): the first holds it; each other watches the one before it. */
export const firstInLine: Predicate = (contenders, index) => (index === 0 ? { acquired: true } : { acquired: false, watch: contenders[index - 1]! });

export const defaultParticipantId = (): string => `${hostname()}:${process.pid}`;

export interface Participant {
  id: string;
  /** the participant's fencing token (its node's czxid) */
  token: number;
  path: string;
}

/**
 * The participants whose nodes are `names` under `dir`, in that order: each node's data is its
 * participant id, its czxid the token. Nodes deleted meanwhile are left out.
 */
export async function readParticipants(client: Conclave, dir: string, names: string[]): Promise<Participant[]> {
  const found = await Promise.all(
    names.map(async (name) => {
      const path = joinPath(dir, name);
      try {
        const { data, stat } = await retry(client, () => client.get(path));
        return { id: data.toString(), token: stat.czxid, path };
      } catch (error) {
        if (error instanceof NoNodeError) return undefined;
        throw error;
      }
    }),
  );
  return found.filter((p): p is Participant => p !== undefined);
}

/**
 * A lock on sequential nodes named `<nodeName><sequence>`, with a rule for who may hold it.
 * Reentrant per object: acquiring again while this object holds the lock counts up (and shares the
 * token); release() counts down and lets go at zero. Give concurrent tasks their own objects.
 */
export class SequentialLock {
  private held: { node: CreatedNode; holding: Holding; count: number } | undefined;
  private acquiring: Promise<unknown> | undefined;

  constructor(
    protected readonly client: Conclave,
    readonly path: string,
    private readonly nodeName: string,
    private readonly predicate: Predicate,
    private readonly options: LockOptions & { lostOnDisconnect?: boolean; isContender?: (name: string) => boolean } = {},
  ) {
    validateDir(path, 'a lock path');
  }

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** The holder's fencing token (the czxid of its node); undefined when not held. */
  get fencingToken(): number | undefined {
    return this.held?.node.czxid;
  }

  /** Aborted (with the reason) when the held lock is lost: its node deleted or the session over. */
  get signal(): AbortSignal | undefined {
    return this.held?.holding.signal;
  }

  /** The path of the node that holds the lock for this object. */
  get nodePath(): string | undefined {
    return this.held?.node.path;
  }

  /** Waits until the lock is held; resolves with the fencing token. */
  async acquire(options: AcquireOptions = {}): Promise<number> {
    const token = await this.lock(options, true, false);
    return token!;
  }

  /** Takes the lock if it is free now (or within `timeoutMs`); resolves with whether it did. */
  async tryAcquire(options: AcquireOptions = {}): Promise<boolean> {
    return (await this.lock(options, options.timeoutMs !== undefined, true)) !== undefined;
  }

  /** Runs `fn` while holding the lock; `signal` aborts if the lock is lost meanwhile. */
  async withLock<T>(fn: (token: number, signal: AbortSignal) => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    const token = await this.acquire(options);
    // Lost already (it can happen between two lines): the task still gets an aborted signal.
    const signal = this.signal ?? AbortSignal.abort(new Error(`${this.path}: the lock was lost`));
    try {
      return await fn(token, signal);
    } finally {
      await this.release();
    }
  }

  /**
   * Lets go of one acquire; the lock is released (its node deleted) when the count reaches zero.
   * Nothing to do once the lock was lost.
   */
  async release(): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    if (--held.count > 0) return;
    this.held = undefined;
    held.holding.stop();
    await deleteQuietly(this.client, held.node.path);
  }

  /** Everyone holding or waiting, in queue order (as of now: read with a quorum). */
  async participants(): Promise<Participant[]> {
    let children: string[];
    try {
      children = await retry(this.client, () => this.client.getChildren(this.path, { linearizable: true }));
    } catch (error) {
      if (error instanceof NoNodeError) return [];
      throw error;
    }
    return readParticipants(this.client, this.path, this.contenders(children));
  }

  private contenders(children: string[]): string[] {
    const accept = this.options.isContender;
    return sortBySequence(accept ? children.filter(accept) : children);
  }

  /**
   * The token once held. Without `wait`, gives up (undefined) unless the lock is free now; with
   * `quiet`, a timeout gives undefined instead of a TimeoutError.
   */
  private async lock(options: AcquireOptions, wait: boolean, quiet: boolean): Promise<number | undefined> {
    while (this.acquiring) await this.acquiring.catch(() => undefined);
    if (this.held) {
      this.held.count++;
      return this.held.node.czxid;
    }
    const attempt = this.attempt(options, wait, quiet);
    this.acquiring = attempt;
    try {
      const node = await attempt;
      if (node === undefined) return undefined;
      const holding = new Holding(this.client, node.path, !!this.options.lostOnDisconnect);
      // A lost lock lets go of its node at once, so that the next contender need not wait for expiry.
      holding.signal.addEventListener('abort', () => {
        if (this.held?.holding === holding) this.held = undefined;
        void deleteQuietly(this.client, node.path).catch(() => undefined);
      }, { once: true });
      this.held = { node, holding, count: 1 };
      return node.czxid;
    } finally {
      this.acquiring = undefined;
    }
  }

  private async attempt(options: AcquireOptions, wait: boolean, quiet: boolean): Promise<CreatedNode | undefined> {
    const signal = deadline(options.signal, options.timeoutMs);
    let node: CreatedNode | undefined;
    try {
      node = await createProtected(this.client, this.path, this.nodeName, this.options.id ?? defaultParticipantId(), 'EPHEMERAL_SEQUENTIAL', { signal });
      for (;;) {
        const contenders = this.contenders(await retry(this.client, () => this.client.getChildren(this.path), signal));
        const index = contenders.indexOf(node.name);
        if (index < 0) throw new NoNodeError(`${node.path} vanished while waiting for the lock (deleted, or the session expired)`, { path: node.path });
        const verdict = this.predicate(contenders, index);
        if (verdict.acquired) return node;
        if (!wait) {
          await deleteQuietly(this.client, node.path);
          return undefined;
        }
        await waitForDeletion(this.client, joinPath(this.path, verdict.watch), signal);
      }
    } catch (error) {
      if (node !== undefined) await deleteQuietly(this.client, node.path).catch(() => undefined);
      if (isTimeout(error)) {
        if (quiet) return undefined;
        throw new TimeoutError(`${this.path}: not acquired within ${options.timeoutMs} ms`, { path: this.path });
      }
      throw error;
    }
  }
}

/** A reentrant distributed mutex (Curator's InterProcessMutex). */
export class Mutex extends SequentialLock {
  constructor(client: Conclave, path: string, options: LockOptions = {}) {
    super(client, path, 'lock-', firstInLine, options);
  }
}

const READ = 'read-';
const WRITE = 'write-';
const isReadOrWrite = (name: string) => /-(read|write)-\d{10}$/.test(name);
const isWrite = (name: string) => /-write-\d{10}$/.test(name);

/**
 * A reader can hold the lock when no writer is queued before it, and watches the nearest writer
 * before it otherwise; the holder of this object's write lock may also take its read lock.
 */
export function readPredicate(writeHeldHere: () => boolean): Predicate {
  return (contenders, index) => {
    if (writeHeldHere()) return { acquired: true };
    for (let j = index - 1; j >= 0; j--) if (isWrite(contenders[j]!)) return { acquired: false, watch: contenders[j]! };
    return { acquired: true };
  };
}

/**
 * A read-write lock (Curator's InterProcessReadWriteLock): many readers or one writer, granted in
 * arrival order (a waiting writer holds back later readers, so writers do not starve).
 */
export class ReadWriteLock {
  readonly writeLock: SequentialLock;
  readonly readLock: SequentialLock;

  constructor(client: Conclave, path: string, options: LockOptions = {}) {
    this.writeLock = new SequentialLock(client, path, WRITE, firstInLine, { ...options, isContender: isReadOrWrite });
    this.readLock = new SequentialLock(client, path, READ, readPredicate(() => this.writeLock.isHeld), { ...options, isContender: isReadOrWrite });
  }
}
