/**
 * What the recipes share: retrying through connection loss, Curator's protected sequential nodes
 * (a GUID in the name, so that a create whose outcome is unknown can find its own node), waiting
 * on one-shot watches while the session lives, and watching a held node for loss.
 */
import { randomUUID } from 'node:crypto';
import { NoNodeError, SessionExpiredError, type ConclaveError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import { ConnectionLossError } from '../session.js';
import type { Data, NodeKind, Watcher } from '../types.js';

/** The prefix of protected node names: `_c_<guid>-<name><sequence>`. */
export const PROTECTED_PREFIX = '_c_';

export const newGuid = (): string => randomUUID().replace(/-/g, '');

export const protectedPrefix = (guid: string): string => `${PROTECTED_PREFIX}${guid}-`;

export const joinPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

export function validateDir(path: string, what: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length < 2 || path.endsWith('/')) {
    throw new TypeError(`${what} must be an absolute path other than /, not ${JSON.stringify(path)}`);
  }
  return path;
}

/** The sequence number of a sequential node's name (its last 10 digits); -1 if it has none. */
export function sequenceOf(name: string): number {
  const m = /(\d{10})$/.exec(name);
  return m ? Number(m[1]) : -1;
}

/** Sequential node names in sequence order (protected prefixes make name order wrong). */
export function sortBySequence(names: string[]): string[] {
  return names.filter((n) => sequenceOf(n) >= 0).sort((a, b) => sequenceOf(a) - sequenceOf(b));
}

/**
 * Errors after which a request's outcome is unknown but the session may live on: the stream broke
 * (ConnectionLossError), the member has no quorum right now, or the answer took too long.
 */
export function isRetryable(error: unknown): boolean {
  const code = (error as ConclaveError | undefined)?.code;
  return code === 'UNAVAILABLE' || code === 'TIMEOUT';
}

const sessionOver = (client: Conclave) => client.state === 'expired' || client.state === 'closed';

export function sessionEndedError(client: Conclave): Error {
  return new SessionExpiredError(client.state === 'closed' ? 'the client was closed' : `session ${client.sessionId} has expired`);
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Runs `attempt` until it succeeds, retrying after a retryable failure (with backoff, up to 1 s)
 * while the session lives and `signal` is not aborted. Only for operations that are safe to repeat.
 */
export async function retry<T>(client: Conclave, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let n = 0; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error) || sessionOver(client)) throw error;
      await sleep(Math.min(1_000, 25 * 2 ** Math.min(n, 6)), signal);
    }
  }
}

/**
 * Resolves with `promise`, or rejects when the session ends (SessionExpiredError) or `signal`
 * aborts (with its reason), whichever comes first.
 */
export function whileSessionLives<T>(client: Conclave, promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (sessionOver(client)) return Promise.reject(sessionEndedError(client));
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      stop();
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      cleanup();
      reject(signal!.reason);
    };
    const stop = client.onState((state) => {
      if (state === 'expired' || state === 'closed') {
        cleanup();
        reject(sessionEndedError(client));
      }
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error) => {
        cleanup();
        reject(error);
      },
    );
  });
}

/**
 * Sets a one-shot watch with `arm` (which returns false when there is nothing to wait for, e.g.
 * the node is already gone) and waits for it to fire.
 */
export async function waitForWatch(client: Conclave, arm: (watcher: Watcher) => Promise<boolean>, signal?: AbortSignal): Promise<void> {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => (fire = resolve));
  const mustWait = await retry(client, () => arm(() => fire()), signal);
  if (mustWait) await whileSessionLives(client, fired, signal);
}

/** Waits until `path` is deleted or changed (at once if it does not exist); callers look again. */
export function waitForDeletion(client: Conclave, path: string, signal?: AbortSignal): Promise<void> {
  return waitForWatch(client, async (watcher) => (await client.exists(path, { watch: watcher })) !== null, signal);
}

/**
 * Makes the outcome of this session's earlier writes final. A write whose answer was lost (the
 * connection broke, the member had no quorum, the answer was late) may still be in flight and be
 * applied later; but a session's requests are applied in the order sent, so once a later write of
 * the session is applied, each earlier one has been applied or never will be. The later write is
 * a multi holding one check that always passes: it changes nothing.
 */
export async function settle(client: Conclave, signal?: AbortSignal): Promise<void> {
  await retry(client, () => client.multi([{ op: 'check', path: '/', version: -1 }]), signal);
}

/** Deletes a node, retrying through connection loss; a node already gone is fine. */
export async function deleteQuietly(client: Conclave, path: string): Promise<void> {
  try {
    await retry(client, () => client.delete(path));
  } catch (error) {
    if (!(error instanceof NoNodeError) && !sessionOver(client)) throw error;
  }
}

export interface CreatedNode {
  path: string;
  name: string;
  /** the node's czxid: unique, and higher for every node created later anywhere in the tree */
  czxid: number;
  guid: string;
}

export interface ProtectedCreateOptions {
  signal?: AbortSignal;
  /** the kind of `dir` and its ancestors when they must be created */
  dirKind?: 'CONTAINER' | 'PERSISTENT';
  /**
   * Where else a node of this GUID may be once created, when it is not under `dir` (a queue item
   * already taken: its claim); the node found there stands for the one created.
   */
  findElsewhere?: (guid: string) => Promise<CreatedNode | undefined>;
}

/**
 * Creates a protected sequential node `dir/_c_<guid>-<name>NNNNNNNNNN` (creating `dir` and its
 * ancestors, as containers by default, when missing). When the outcome of a create is unknown
 * (connection loss, no quorum, timeout), it settles the session's writes and looks for its GUID
 * among the children before trying again, so that it never leaves a second node of its own.
 * `signal` stops it between attempts, never while the outcome of one is unknown.
 */
export async function createProtected(
  client: Conclave,
  dir: string,
  name: string,
  data: Data | undefined,
  kind: Extract<NodeKind, 'EPHEMERAL_SEQUENTIAL' | 'PERSISTENT_SEQUENTIAL'>,
  options: ProtectedCreateOptions = {},
): Promise<CreatedNode> {
  const { signal, dirKind = 'CONTAINER', findElsewhere } = options;
  const guid = newGuid();
  const prefix = protectedPrefix(guid);
  for (let n = 0; ; n++) {
    signal?.throwIfAborted();
    try {
      const { path, stat } = await client.createWithStat(joinPath(dir, prefix + name), data, { kind });
      return { path, name: path.slice(path.lastIndexOf('/') + 1), czxid: stat.czxid, guid };
    } catch (error) {
      if (error instanceof NoNodeError) {
        await retry(client, () => client.mkdirp(dir, { kind: dirKind }), signal);
        continue;
      }
      if (!isRetryable(error) || sessionOver(client)) throw error;
      // The create may yet be applied: find out first, even if `signal` aborts meanwhile, so that
      // no node of ours is left behind unknown to the caller.
      await sleep(Math.min(1_000, 25 * 2 ** Math.min(n, 6)));
      await settle(client);
      const found = (await findProtected(client, dir, guid)) ?? (await findElsewhere?.(guid));
      if (found) return found;
    }
  }
}

/** The node with this GUID under `dir`, if a create of it was applied. */
export async function findProtected(client: Conclave, dir: string, guid: string, signal?: AbortSignal): Promise<CreatedNode | undefined> {
  const prefix = protectedPrefix(guid);
  let children: string[];
  try {
    children = await retry(client, () => client.getChildren(dir), signal);
  } catch (error) {
    if (error instanceof NoNodeError) return undefined;
    throw error;
  }
  const name = sortBySequence(children.filter((c) => c.startsWith(prefix)))[0];
  if (name === undefined) return undefined;
  const path = joinPath(dir, name);
  const stat = await retry(client, () => client.exists(path), signal);
  return stat ? { path, name, czxid: stat.czxid, guid } : undefined;
}

/**
 * Watches a node held by this session (a lock node, a candidate): `signal` aborts when the node is
 * deleted, the session ends, or (with `lostOnDisconnect`) the connection is lost, since the
 * session may then expire without this client knowing.
 */
export class Holding {
  private readonly controller = new AbortController();
  private readonly stopStates: () => void;
  private stopped = false;

  constructor(
    private readonly client: Conclave,
    readonly path: string,
    lostOnDisconnect: boolean,
  ) {
    this.stopStates = client.onState((state) => {
      if (state === 'expired' || state === 'closed') this.lose(sessionEndedError(client));
      else if (state === 'disconnected' && lostOnDisconnect) {
        this.lose(new ConnectionLossError(`connection lost: session ${client.sessionId} is suspended and may expire unseen`));
      }
    });
    if (sessionOver(client)) this.lose(sessionEndedError(client));
    else this.arm();
  }

  /** Aborted (with the reason) when the node may no longer be held. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops watching without reporting a loss (the node is being released on purpose). */
  stop(): void {
    this.stopped = true;
    this.stopStates();
  }

  private lose(reason: Error): void {
    if (this.stopped) return;
    this.stop();
    this.controller.abort(reason);
  }

  private arm(): void {
    if (this.stopped) return;
    const watcher: Watcher = (event) => {
      if (event.type === 'NODE_DELETED') this.lose(new NoNodeError(`${this.path} was deleted`, { path: this.path }));
      else this.arm();
    };
    retry(this.client, () => this.client.exists(this.path, { watch: watcher })).then(
      (stat) => {
        if (stat === null) this.lose(new NoNodeError(`${this.path} was deleted`, { path: this.path }));
      },
      (error: Error) => this.lose(error),
    );
  }
}

/**
 * A signal that aborts with `signal` or after `timeoutMs` (with a TimeoutError DOMException).
 * Not AbortSignal.any with AbortSignal.timeout: Node holds the sources of any() weakly, so the
 * timeout can be collected, and its timer cleared, before it fires.
 */
export function deadline(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  if (timeoutMs === undefined) return signal;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError')), Math.max(0, timeoutMs));
  timer.unref();
  if (signal?.aborted) controller.abort(signal.reason);
  signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return controller.signal;
}

/** True when `error` is what `deadline()`'s timeout aborts with. */
export const isTimeout = (error: unknown): boolean => error instanceof DOMException && error.name === 'TimeoutError';
