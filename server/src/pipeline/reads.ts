/**
 * Reads against this member's applied tree, and the watches they leave behind. Each function runs
 * synchronously between two applies, so a watch is registered atomically with the read it came
 * from: no change can fall between them. Pure apart from the registry it is handed.
 */
import type { ReadOp__Output as ReadOp } from '@conclave/proto/gen/conclave/v1/ReadOp.js';
import { asConclaveError, InvalidArgumentError, ResourceExhaustedError, type ErrorCode } from '../errors.js';
import type { DataTree, Stat } from '../tree/tree.js';
import { isWithin, ROOT, validatePath } from '../tree/path.js';
import type { Watcher, WatchRegistry } from '../watch/registry.js';

export interface ReadContext {
  tree: DataTree;
  registry: WatchRegistry;
  /** receives one-shot watches; undefined for sessionless callers (then `watch` is refused) */
  watcher: Watcher | undefined;
  maxPathBytes: number;
  /** watches one watcher may hold */
  maxWatches: number;
}

function watcherFor(ctx: ReadContext, watch: boolean | undefined): Watcher | undefined {
  if (!watch) return undefined;
  if (ctx.watcher === undefined) throw new InvalidArgumentError('watches need a session (use the Session stream or Watch)');
  checkWatchLimit(ctx.registry, ctx.watcher, ctx.maxWatches);
  return ctx.watcher;
}

/** Bounds the memory one session's watches can take. */
export function checkWatchLimit(registry: WatchRegistry, watcher: Watcher, max: number): void {
  if (registry.countOf(watcher) >= max) throw new ResourceExhaustedError(`a session may hold at most ${max} watches`);
}

export function getData(ctx: ReadContext, path: string, watch?: boolean): { data: Uint8Array; stat: Stat } {
  path = validatePath(path, ctx.maxPathBytes);
  const watcher = watcherFor(ctx, watch);
  const node = ctx.tree.getOrThrow(path);
  if (watcher) ctx.registry.add('data', path, watcher);
  return { data: node.data, stat: node.stat() };
}

/** exists: a watch is left whether or not the node exists (to see it created). */
export function exists(ctx: ReadContext, path: string, watch?: boolean): { stat: Stat | null } {
  path = validatePath(path, ctx.maxPathBytes);
  const watcher = watcherFor(ctx, watch);
  const node = ctx.tree.get(path);
  if (watcher) ctx.registry.add('data', path, watcher);
  return { stat: node === undefined ? null : node.stat() };
}

export function getChildren(
  ctx: ReadContext,
  path: string,
  watch?: boolean,
  withStat?: boolean,
): { children: string[]; stat: Stat | null } {
  path = validatePath(path, ctx.maxPathBytes);
  const watcher = watcherFor(ctx, watch);
  const children = ctx.tree.children(path);
  if (watcher) ctx.registry.add('child', path, watcher);
  return { children, stat: withStat ? ctx.tree.get(path)!.stat() : null };
}

export function getAllChildrenNumber(ctx: ReadContext, path: string): { number: number } {
  return { number: ctx.tree.countDescendants(validatePath(path, ctx.maxPathBytes)) };
}

/** The ephemeral nodes owned by `owner` under `prefix`, sorted. */
export function getEphemerals(ctx: ReadContext, owner: number, prefix: string): { paths: string[] } {
  const base = prefix === '' ? ROOT : validatePath(prefix, ctx.maxPathBytes);
  const paths = [...ctx.tree.ephemeralsOf(owner)].filter((p) => isWithin(p, base)).sort();
  return { paths };
}

export type ReadResult =
  | { getData: { data: Uint8Array; stat: Stat } }
  | { getChildren: { children: string[]; stat: Stat | null } }
  | { exists: { stat: Stat | null } }
  | { error: { code: ErrorCode | 'OK'; message: string; path: string; opIndex: number } };

/** multiRead: each read succeeds or fails on its own, all against the same state. */
export function multiRead(ctx: ReadContext, ops: ReadOp[], maxOps: number): ReadResult[] {
  if (ops.length > maxOps) throw new InvalidArgumentError(`a multiRead has at most ${maxOps} ops, not ${ops.length}`);
  return ops.map((op, i): ReadResult => {
    try {
      switch (op.op) {
        case 'getData':
          return { getData: getData(ctx, op.getData!.path, op.getData!.watch) };
        case 'getChildren':
          return { getChildren: getChildren(ctx, op.getChildren!.path, op.getChildren!.watch, op.getChildren!.withStat) };
        case 'exists':
          return { exists: exists(ctx, op.exists!.path, op.exists!.watch) };
        default:
          throw new InvalidArgumentError(`multiRead op ${i} has no operation`);
      }
    } catch (error) {
      const e = asConclaveError(error);
      return { error: { code: e.code, message: e.message, path: e.path ?? '', opIndex: i } };
    }
  });
}
