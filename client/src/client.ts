/**
 * The Conclave client: a typed, promise-based API over one session.
 *
 *   const client = await Conclave.connect({ endpoints: '10.0.0.1:2281,10.0.0.2:2281' });
 *   await client.create('/app/config', 'v1');
 *   const { data, stat } = await client.get('/app/config', { watch: (e) => console.log(e.type) });
 *   await client.set('/app/config', 'v2', { version: stat.version });
 *   for await (const event of client.watch('/app', { recursive: true })) console.log(event);
 */
import type { SessionResponse__Output as SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { OpResult__Output as WireOpResult } from '@conclave/proto/gen/conclave/v1/OpResult.js';
import { parseEndpoints } from './endpoints.js';
import { Session } from './session.js';
import type {
  CreateOptions,
  Data,
  Op,
  OpResult,
  ReadOptions,
  RequestOptions,
  SessionState,
  Stat,
  WatchEvent,
  Watcher,
} from './types.js';

export interface ConnectOptions {
  /** "host:port,host:port"; default CONCLAVE_ENDPOINTS or 127.0.0.1:2281 */
  endpoints?: string | string[];
  /** requested session timeout, ms (the server clamps it; default 10 s) */
  sessionTimeoutMs?: number;
  /** one connection attempt, ms (default 5 s) */
  connectTimeoutMs?: number;
  /** default time to wait for an answer, ms (default 15 s; 0: no limit) */
  requestTimeoutMs?: number;
  /** requests in flight at once; more wait in the client (default 1,000, the server's per-session limit) */
  maxInFlight?: number;
}

const toBytes = (data: Data | undefined): Buffer => (data === undefined ? Buffer.alloc(0) : typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength));

/** A persistent (or recursive) watch: an async iterator of events, closed with close(). */
export interface WatchStream extends AsyncIterable<WatchEvent> {
  close(): Promise<void>;
}

export class Conclave {
  private constructor(private readonly session: Session) {}

  /** Opens a session with the cluster. */
  static async connect(options: ConnectOptions = {}): Promise<Conclave> {
    const session = new Session({
      endpoints: parseEndpoints(options.endpoints ?? process.env.CONCLAVE_ENDPOINTS),
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      maxInFlight: options.maxInFlight ?? 1_000,
    });
    await session.open();
    return new Conclave(session);
  }

  get sessionId(): number {
    return this.session.sessionId;
  }
  /** the negotiated session timeout, ms */
  get sessionTimeoutMs(): number {
    return this.session.timeoutMs;
  }
  /** the member this session is connected to */
  get memberId(): number {
    return this.session.memberId;
  }
  get state(): SessionState {
    return this.session.state;
  }
  /** the highest zxid this client has seen */
  get lastZxid(): number {
    return this.session.lastZxid;
  }

  /** Session state changes: connected, disconnected, reconnected, expired, closed. */
  onState(listener: (state: SessionState) => void): () => void {
    this.session.on('state', listener);
    return () => this.session.off('state', listener);
  }

  // ------------------------------------------------------------------ data

  /** Creates a node; returns its path (with the sequence suffix for sequential kinds). */
  async create(path: string, data?: Data, options: CreateOptions & RequestOptions = {}): Promise<string> {
    const r = await this.session.request(
      { op: 'create', create: { path, data: toBytes(data), kind: options.kind ?? 'PERSISTENT', ttlMs: options.ttlMs ?? 0, leaseId: options.leaseId ?? 0 } },
      options,
    );
    return r.create!.path;
  }

  /** Creates a node and returns its stat too. */
  async createWithStat(path: string, data?: Data, options: CreateOptions & RequestOptions = {}): Promise<{ path: string; stat: Stat }> {
    const r = await this.session.request(
      { op: 'create', create: { path, data: toBytes(data), kind: options.kind ?? 'PERSISTENT', ttlMs: options.ttlMs ?? 0, leaseId: options.leaseId ?? 0, withStat: true } },
      options,
    );
    return { path: r.create!.path, stat: r.create!.stat as Stat };
  }

  /** Reads a node's data and stat; `watch` fires once on its next change or deletion. */
  async get(path: string, options: ReadOptions & { watch?: Watcher } = {}): Promise<{ data: Buffer; stat: Stat }> {
    const watch = options.watch;
    const r = await this.read({ op: 'getData', getData: { path, watch: !!watch } }, options, watch && (() => this.session.watches.addData(path, watch)));
    return { data: r.getData!.data, stat: r.getData!.stat as Stat };
  }

  /** The node's stat, or null when it does not exist; `watch` fires once on creation, change or deletion. */
  async exists(path: string, options: ReadOptions & { watch?: Watcher } = {}): Promise<Stat | null> {
    const watch = options.watch;
    const r = await this.read(
      { op: 'exists', exists: { path, watch: !!watch } },
      options,
      watch && ((answer) => (answer.exists?.stat ? this.session.watches.addData(path, watch) : this.session.watches.addExist(path, watch))),
    );
    return (r.exists!.stat ?? null) as Stat | null;
  }

  /** Sets a node's data, if its version is `version` (default: any). */
  async set(path: string, data: Data, options: RequestOptions & { version?: number } = {}): Promise<Stat> {
    const r = await this.session.request({ op: 'setData', setData: { path, data: toBytes(data), version: options.version ?? -1 } }, options);
    return r.setData!.stat as Stat;
  }

  /** Deletes a childless node, if its version is `version` (default: any). */
  async delete(path: string, options: RequestOptions & { version?: number } = {}): Promise<void> {
    await this.session.request({ op: 'delete', delete: { path, version: options.version ?? -1 } }, options);
  }

  /** Child names, sorted; `watch` fires once when the children change or the node is deleted. */
  async getChildren(path: string, options: ReadOptions & { watch?: Watcher } = {}): Promise<string[]> {
    return (await this.getChildrenWithStat(path, options)).children;
  }

  async getChildrenWithStat(path: string, options: ReadOptions & { watch?: Watcher } = {}): Promise<{ children: string[]; stat: Stat }> {
    const watch = options.watch;
    const r = await this.read({ op: 'getChildren', getChildren: { path, watch: !!watch, withStat: true } }, options, watch && (() => this.session.watches.addChild(path, watch)));
    return { children: r.getChildren!.children, stat: r.getChildren!.stat as Stat };
  }

  /** The number of all descendants of a node. */
  async countDescendants(path: string, options: ReadOptions = {}): Promise<number> {
    const r = await this.read({ op: 'getAllChildrenNumber', getAllChildrenNumber: { path } }, options);
    return Number(r.getAllChildrenNumber!.number);
  }

  /** This session's ephemeral nodes under `prefix`. */
  async getEphemerals(prefix = '/', options: RequestOptions = {}): Promise<string[]> {
    const r = await this.session.request({ op: 'getEphemerals', getEphemerals: { prefix } }, options);
    return r.getEphemerals!.paths;
  }

  /** Makes this member catch up with the leader before this session's next read. */
  async sync(path = '/', options: RequestOptions = {}): Promise<void> {
    await this.session.request({ op: 'sync', sync: { path } }, options);
  }

  /** All-or-nothing: every op applies, or none does (the error names the failing op). */
  async multi(ops: Op[], options: RequestOptions = {}): Promise<OpResult[]> {
    const r = await this.session.request(
      {
        op: 'multi',
        multi: {
          ops: ops.map((o) => {
            switch (o.op) {
              case 'create':
                return { create: { path: o.path, data: toBytes(o.data), kind: o.kind ?? 'PERSISTENT', ttlMs: o.ttlMs ?? 0 } };
              case 'delete':
                return { delete: { path: o.path, version: o.version ?? -1 } };
              case 'setData':
                return { setData: { path: o.path, data: toBytes(o.data), version: o.version ?? -1 } };
              case 'check':
                return { check: { path: o.path, version: o.version } };
            }
          }),
        },
      },
      options,
    );
    return r.multi!.results.map(fromWireResult);
  }

  /** Several reads against the same state; each may fail on its own. */
  async multiRead(
    ops: ({ op: 'getData'; path: string } | { op: 'getChildren'; path: string } | { op: 'exists'; path: string })[],
    options: ReadOptions = {},
  ): Promise<({ data: Buffer; stat: Stat } | { children: string[] } | { stat: Stat | null } | { error: Error })[]> {
    const r = await this.read(
      { op: 'multiRead', multiRead: { ops: ops.map((o) => ({ [o.op]: { path: o.path } })) } },
      options,
    );
    return r.multiRead!.results.map((res) => {
      if (res.error) return { error: Object.assign(new Error(res.error.message), { code: res.error.code, path: res.error.path }) };
      if (res.getData) return { data: res.getData.data, stat: res.getData.stat as Stat };
      if (res.getChildren) return { children: res.getChildren.children };
      return { stat: (res.exists?.stat ?? null) as Stat | null };
    });
  }

  // ------------------------------------------------------------------ watches

  /**
   * A persistent watch on `path` (with `recursive`, on its whole subtree), as an async iterator of
   * events. It survives reconnects and session moves without missing a change.
   */
  watch(path: string, options: { recursive?: boolean } = {}): WatchStream {
    const mode = options.recursive ? 'recursive' : 'persistent';
    const queue: WatchEvent[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const listener: Watcher = (event) => {
      queue.push(event);
      wake?.();
    };
    const onState = (state: SessionState) => (state === 'closed' || state === 'expired') && wake?.();
    this.session.on('state', onState);
    this.session.watches.addPersistent(mode, path, listener);
    const added = this.session.request({ op: 'addWatch', addWatch: { path, mode: options.recursive ? 'PERSISTENT_RECURSIVE_WATCH' : 'PERSISTENT_WATCH' } });
    const close = async () => {
      if (closed) return;
      closed = true;
      this.session.off('state', onState);
      wake?.();
      if (this.session.watches.removePersistent(mode, path, listener) && this.session.state !== 'closed' && this.session.state !== 'expired') {
        await this.session
          .request({ op: 'removeWatches', removeWatches: { path, type: options.recursive ? 'PERSISTENT_RECURSIVE_WATCHER' : 'PERSISTENT_WATCHER' } })
          .catch(() => undefined);
      }
    };
    const session = this.session;
    return {
      close,
      async *[Symbol.asyncIterator]() {
        await added;
        try {
          while (!closed) {
            if (queue.length > 0) {
              yield queue.shift()!;
              continue;
            }
            if (session.state === 'closed' || session.state === 'expired') return;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          await close();
        }
      },
    };
  }

  /** A persistent watch delivered to a callback; returns the function that removes it. */
  async addWatch(path: string, listener: Watcher, options: { recursive?: boolean } = {}): Promise<() => Promise<void>> {
    const mode = options.recursive ? 'recursive' : 'persistent';
    this.session.watches.addPersistent(mode, path, listener);
    await this.session.request({ op: 'addWatch', addWatch: { path, mode: options.recursive ? 'PERSISTENT_RECURSIVE_WATCH' : 'PERSISTENT_WATCH' } });
    return async () => {
      if (this.session.watches.removePersistent(mode, path, listener)) {
        await this.session.request({ op: 'removeWatches', removeWatches: { path, type: options.recursive ? 'PERSISTENT_RECURSIVE_WATCHER' : 'PERSISTENT_WATCHER' } });
      }
    };
  }

  // ------------------------------------------------------------------ lifecycle

  /** Closes the session: its ephemeral nodes are deleted at once. */
  async close(): Promise<void> {
    await this.session.close();
  }

  /** Drops the current connection (the session moves to another member); for tests and operations. */
  reconnect(): void {
    this.session.disconnect();
  }

  /**
   * A read; `onAnswer` registers its watch as the answer is read, before the events behind it in the
   * stream are dispatched (registering after the promise resolves would miss an event that arrives
   * in the same batch as the answer).
   */
  private read(body: Parameters<Session['request']>[0], options: ReadOptions, onAnswer?: (answer: SessionResponse) => void): Promise<SessionResponse> {
    return this.session.request({ ...body, linearizable: !!options.linearizable }, { timeoutMs: options.timeoutMs, signal: options.signal, onAnswer });
  }
}

function fromWireResult(r: WireOpResult): OpResult {
  if (r.create) return { op: 'create', path: r.create.path };
  if (r.delete) return { op: 'delete' };
  if (r.setData) return { op: 'setData', stat: r.setData.stat as Stat };
  return { op: 'check' };
}
