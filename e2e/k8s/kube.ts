// A minimal Kubernetes REST client (node:https, client certificates or a bearer token) and a
// list+watch informer. The runner and the test harness only need a handful of verbs, so this stays
// small instead of depending on a full client library.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parse as parseYaml } from 'yaml';

export interface KubeConnection {
  server: string; // https://host:port
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  token?: string;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  creationTimestamp?: string;
  ownerReferences?: Array<Record<string, unknown>>;
  finalizers?: string[];
  generateName?: string;
}

/** Any Kubernetes object; spec and status are left loosely typed on purpose. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [k: string]: any;
}

export interface KList<T extends KObject = KObject> {
  metadata: { resourceVersion: string };
  items: T[];
}

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface WatchEvent<T extends KObject = KObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class Kube {
  private readonly agent: https.Agent;
  private readonly url: URL;

  constructor(readonly conn: KubeConnection) {
    this.url = new URL(conn.server);
    this.agent = new https.Agent({
      ca: conn.ca,
      ...(conn.cert ? { cert: conn.cert } : {}),
      ...(conn.key ? { key: conn.key } : {}),
      keepAlive: true,
      maxSockets: 64,
    });
  }

  /** Reads a kubeconfig (current context; embedded or file references). */
  static fromKubeconfig(path: string): Kube {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const kc = parseYaml(readFileSync(path, 'utf8')) as any;
    const ctx = kc.contexts.find((c: { name: string }) => c.name === kc['current-context']).context;
    const cluster = kc.clusters.find((c: { name: string }) => c.name === ctx.cluster).cluster;
    const user = kc.users.find((u: { name: string }) => u.name === ctx.user).user;
    const data = (inline: string | undefined, file: string | undefined): Buffer | undefined =>
      inline ? Buffer.from(inline, 'base64') : file ? readFileSync(file) : undefined;
    const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
    if (!ca) throw new Error(`${path}: no certificate authority`);
    const cert = data(user['client-certificate-data'], user['client-certificate']);
    const key = data(user['client-key-data'], user['client-key']);
    return new Kube({
      server: cluster.server,
      ca,
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(user.token ? { token: user.token } : {}),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private options(method: string, path: string, headers: Record<string, string>): https.RequestOptions {
    return {
      method,
      hostname: this.url.hostname,
      port: this.url.port || 443,
      path,
      agent: this.agent,
      headers: {
        accept: 'application/json',
        'user-agent': 'conclave-e2e-k8s',
        ...(this.conn.token ? { authorization: `Bearer ${this.conn.token}` } : {}),
        ...headers,
      },
    };
  }

  /** One request; JSON in, JSON out; non-2xx becomes a KubeError with the Status reason. */
  request<T = KObject>(
    method: string,
    path: string,
    body?: unknown,
    opts: { contentType?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise<T>((resolve, reject) => {
      const req = https.request(this.options(method, path, headers), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(parsed as T);
          } else {
            const st = (parsed ?? {}) as { reason?: string; message?: string };
            reject(
              new KubeError(
                status,
                st.reason ?? String(status),
                `${method} ${path}: ${status} ${st.message ?? text}`,
                parsed,
              ),
            );
          }
        });
      });
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T = KObject>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  /** GET that returns undefined on 404. */
  async find<T = KObject>(path: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', path);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return undefined;
      throw e;
    }
  }
  create<T = KObject>(path: string, obj: unknown): Promise<T> {
    return this.request<T>('POST', path, obj);
  }
  replace<T = KObject>(path: string, obj: unknown): Promise<T> {
    return this.request<T>('PUT', path, obj);
  }
  patch<T = KObject>(path: string, patch: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.request<T>('PATCH', path, patch, { contentType: PATCH_CONTENT_TYPES[type] });
  }
  /** DELETE; a 404 is not an error (returns undefined). */
  async delete<T = KObject>(path: string, options?: Record<string, unknown>): Promise<T | undefined> {
    try {
      return await this.request<T>('DELETE', path, options ? { kind: 'DeleteOptions', apiVersion: 'v1', ...options } : undefined);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * Streams a watch. Resolves when the server ends the stream (timeout) or the signal aborts;
   * rejects on connection errors or a non-200 answer (410 Gone among them).
   */
  watch<T extends KObject>(
    path: string,
    resourceVersion: string,
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const sep = path.includes('?') ? '&' : '?';
    const full = `${path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=${240 + Math.floor(Math.random() * 60)}&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return resolve();
      const req = https.request(this.options('GET', full, {}), (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(new KubeError(res.statusCode ?? 0, 'WatchFailed', `watch ${path}: ${res.statusCode} ${Buffer.concat(chunks)}`, undefined)));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent<T>);
            } catch (e) {
              req.destroy(e as Error);
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
        res.on('aborted', () => resolve());
      });
      req.on('error', (e) => (signal?.aborted ? resolve() : reject(e)));
      signal?.addEventListener('abort', () => req.destroy(), { once: true });
      req.end();
    });
  }
}

export const key = (o: KObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

/**
 * Keeps a local cache of a collection (list, then watch from its resourceVersion; relists on 410
 * or errors) and emits 'add' | 'update' | 'delete' (object, old?) and 'change' after each.
 */
export class Informer<T extends KObject = KObject> extends EventEmitter {
  readonly items = new Map<string, T>();
  private readonly abort = new AbortController();
  private synced = false;

  constructor(
    private readonly kube: Kube,
    private readonly path: string,
  ) {
    super();
  }

  /** Resolves after the first list has filled the cache. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      void this.run(resolve, reject);
    });
  }

  stop(): void {
    this.abort.abort();
  }

  list(): T[] {
    return [...this.items.values()];
  }

  private async run(onSynced: () => void, onFirstError: (e: unknown) => void): Promise<void> {
    let rv = '';
    let backoff = 200;
    let failures = 0;
    while (!this.abort.signal.aborted) {
      try {
        if (!rv) {
          const list = await this.kube.get<KList<T>>(this.path);
          const seen = new Set<string>();
          for (const item of list.items) {
            const k = key(item);
            seen.add(k);
            const old = this.items.get(k);
            this.items.set(k, item);
            if (!old) this.emit('add', item);
            else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('update', item, old);
          }
          for (const [k, old] of [...this.items]) {
            if (!seen.has(k)) {
              this.items.delete(k);
              this.emit('delete', old);
            }
          }
          rv = list.metadata.resourceVersion;
          if (!this.synced) {
            this.synced = true;
            onSynced();
          }
          this.emit('change');
        }
        await this.kube.watch<T>(
          this.path,
          rv,
          (ev) => {
            if (ev.type === 'BOOKMARK') {
              rv = ev.object.metadata.resourceVersion ?? rv;
              return;
            }
            if (ev.type === 'ERROR') {
              rv = ''; // most likely 410 Gone: relist
              return;
            }
            const obj = ev.object;
            const k = key(obj);
            rv = obj.metadata.resourceVersion ?? rv;
            const old = this.items.get(k);
            if (ev.type === 'DELETED') {
              this.items.delete(k);
              this.emit('delete', obj);
            } else {
              this.items.set(k, obj);
              this.emit(old ? 'update' : 'add', obj, old);
            }
            this.emit('change');
          },
          this.abort.signal,
        );
        backoff = 200;
      } catch (e) {
        if (this.abort.signal.aborted) break;
        if (!this.synced && ++failures >= 20) {
          this.abort.abort();
          onFirstError(e);
          break;
        }
        if (e instanceof KubeError && e.status === 410) rv = '';
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        if (!(e instanceof KubeError)) rv = ''; // connection trouble: relist to be safe
      }
    }
  }
}

/** API path of a collection or an object, e.g. path('v1','pods','ns') or path('apps/v1','statefulsets','ns','web'). */
export function apiPath(apiVersion: string, resource: string, namespace?: string, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ''}/${resource}${name ? `/${name}` : ''}`;
}
