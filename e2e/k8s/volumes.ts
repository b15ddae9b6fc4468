// Volume contents for configMap, secret, downwardAPI and projected volumes, and the kubelet's
// atomic writer layout (files live in a timestamped dir, "..data" points at it, each top-level
// name is a symlink through "..data"), so a change appears at once and whole to the pod.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KObject } from './kube.js';
import { ConfigError, podField, resourceField, type EnvContext } from './podspec.js';

export interface FileSpec {
  data: Buffer;
  mode: number;
}
export type Payload = Map<string, FileSpec>;

/** Source data of a configMap or secret (secret values are base64 in the API object). */
export function objectData(obj: KObject, kind: 'configMap' | 'secret'): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (kind === 'configMap') {
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries((obj.binaryData ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v, 'base64'));
  } else {
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v, 'base64'));
  }
  return out;
}

/** Files of a configMap/secret source: all keys, or the listed items (key -> path, mode). */
export function keyedPayload(
  source: { items?: Array<{ key: string; path: string; mode?: number }>; optional?: boolean; name?: string },
  data: Map<string, Buffer> | undefined,
  defaultMode: number,
  what: string,
): Payload {
  const out: Payload = new Map();
  if (!data) {
    if (source.optional) return out;
    throw new ConfigError(`${what} not found`);
  }
  if (!source.items) {
    for (const [k, v] of data) out.set(k, { data: v, mode: defaultMode });
    return out;
  }
  for (const item of source.items) {
    const v = data.get(item.key);
    if (v === undefined) {
      if (source.optional) continue;
      throw new ConfigError(`${what}: key ${item.key} not found`);
    }
    out.set(item.path, { data: v, mode: item.mode ?? defaultMode });
  }
  return out;
}

export function downwardPayload(
  pod: KObject,
  items: Array<{ path: string; fieldRef?: { fieldPath: string }; resourceFieldRef?: { containerName?: string; resource: string; divisor?: string }; mode?: number }>,
  defaultMode: number,
  ctx: Pick<EnvContext, 'podIP' | 'hostIP' | 'nodeAllocatable'>,
): Payload {
  const out: Payload = new Map();
  for (const item of items) {
    const value = item.fieldRef
      ? podField(pod, item.fieldRef.fieldPath, ctx)
      : item.resourceFieldRef
        ? resourceField(pod, undefined, item.resourceFieldRef, ctx)
        : '';
    out.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
  }
  return out;
}

export function payloadHash(p: Payload): string {
  const h = createHash('sha256');
  for (const k of [...p.keys()].sort()) {
    const f = p.get(k)!;
    h.update(`${k}\0${f.mode}\0`).update(f.data).update('\0');
  }
  return h.digest('hex');
}

/** Writes a payload into dir with the atomic writer layout; old versions are removed. */
export function atomicWrite(dir: string, payload: Payload): void {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_')}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
  const tsDir = join(dir, stamp);
  mkdirSync(tsDir);
  for (const [path, f] of payload) {
    if (path.includes('..') || path.startsWith('/')) throw new ConfigError(`invalid volume path ${path}`);
    const file = join(tsDir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, f.data);
    chmodSync(file, f.mode);
  }
  const old = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : undefined;
  rmSync(join(dir, '..data_tmp'), { force: true });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  const top = new Set([...payload.keys()].map((p) => p.split('/')[0]!));
  for (const t of top) {
    const link = join(dir, t);
    if (!existsSync(link) && !isSymlink(link)) symlinkSync(join('..data', t), link);
  }
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..')) continue;
    if (!top.has(entry) && isSymlink(join(dir, entry))) rmSync(join(dir, entry));
  }
  if (old && old !== stamp) rmSync(join(dir, old), { recursive: true, force: true });
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
