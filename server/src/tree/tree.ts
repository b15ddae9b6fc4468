/**
 * The data tree: znodes by full path, with ZooKeeper's Stat bookkeeping, ephemeral ownership and the
 * container/TTL candidate sets. PURE and deterministic: every mutation is given its zxid and time by
 * the caller (the state machine applying a committed transaction); nothing here reads a clock.
 *
 * Mutations return an undo function so that a multi can be rolled back atomically.
 */
import {
  BadVersionError,
  NoChildrenForEphemeralsError,
  NodeExistsError,
  NoNodeError,
  NotEmptyError,
} from '../errors.js';
import { parentOf, ROOT, sequenceSuffix, SYSTEM_PATH } from './path.js';
import { DataSlabs } from './data-slabs.js';
import { PathMap } from './path-map.js';

export type NodeKind =
  | 'PERSISTENT'
  | 'EPHEMERAL'
  | 'PERSISTENT_SEQUENTIAL'
  | 'EPHEMERAL_SEQUENTIAL'
  | 'CONTAINER'
  | 'PERSISTENT_WITH_TTL'
  | 'PERSISTENT_SEQUENTIAL_WITH_TTL';

export const NODE_KINDS: readonly NodeKind[] = [
  'PERSISTENT',
  'EPHEMERAL',
  'PERSISTENT_SEQUENTIAL',
  'EPHEMERAL_SEQUENTIAL',
  'CONTAINER',
  'PERSISTENT_WITH_TTL',
  'PERSISTENT_SEQUENTIAL_WITH_TTL',
];

export function isEphemeralKind(kind: NodeKind): boolean {
  return kind === 'EPHEMERAL' || kind === 'EPHEMERAL_SEQUENTIAL';
}
export function isSequentialKind(kind: NodeKind): boolean {
  return kind === 'PERSISTENT_SEQUENTIAL' || kind === 'EPHEMERAL_SEQUENTIAL' || kind === 'PERSISTENT_SEQUENTIAL_WITH_TTL';
}
export function isTtlKind(kind: NodeKind): boolean {
  return kind === 'PERSISTENT_WITH_TTL' || kind === 'PERSISTENT_SEQUENTIAL_WITH_TTL';
}

/** ZooKeeper's Stat, field for field. */
export interface Stat {
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: number;
  dataLength: number;
  numChildren: number;
}

const EMPTY = new Uint8Array(0);


export class ZNode {
  /** the full paths of its children (no string per name: a child's path is its key in the tree) */
  children: Set<string> | undefined = undefined;
  mzxid: number;
  pzxid: number;
  mtime: number;
  version = 0;
  cversion = 0;
  /**
   * The data: `bytes` itself (dataAt -1), or bytes [dataAt, dataAt + size) of a slab shared with
   * other nodes' data (DataSlabs: the tree's own, or a restored snapshot's), viewed when read: a
   * view per node is an object the garbage collector copies twice.
   */
  private bytes: Uint8Array;
  private dataAt = -1;
  private size: number;

  constructor(
    data: Uint8Array,
    readonly kind: NodeKind,
    readonly czxid: number,
    readonly ctime: number,
    /** owning session or lease for ephemerals, else 0 */
    readonly ephemeralOwner: number,
    /** ms, for TTL kinds; else 0 */
    readonly ttl: number,
  ) {
    this.bytes = data;
    this.size = data.length;
    this.mzxid = czxid;
    this.pzxid = czxid;
    this.mtime = ctime;
  }

  get data(): Uint8Array {
    return this.dataAt < 0 ? this.bytes : this.bytes.subarray(this.dataAt, this.dataAt + this.size);
  }

  set data(data: Uint8Array) {
    this.bytes = data;
    this.dataAt = -1;
    this.size = data.length;
  }

  /** bytes of data */
  get dataLength(): number {
    return this.size;
  }

  /** Makes bytes [at, at + length) of `slab` the data; the slab is not written there again. */
  setDataIn(slab: Uint8Array, at: number, length: number): void {
    if (at === 0 && length === slab.length) {
      this.data = slab;
    } else {
      this.bytes = slab;
      this.dataAt = at;
      this.size = length;
    }
  }

  get numChildren(): number {
    return this.children === undefined ? 0 : this.children.size;
  }

  stat(): Stat {
    return {
      czxid: this.czxid,
      mzxid: this.mzxid,
      pzxid: this.pzxid,
      ctime: this.ctime,
      mtime: this.mtime,
      version: this.version,
      cversion: this.cversion,
      aversion: 0, // ACLs are not implemented: no ACL ever changes
      ephemeralOwner: this.ephemeralOwner,
      dataLength: this.dataLength,
      numChildren: this.numChildren,
    };
  }
}

export type Undo = () => void;

/** What a tree mutation changed, for watch events. */
export interface Change {
  type: 'NODE_CREATED' | 'NODE_DELETED' | 'NODE_DATA_CHANGED' | 'NODE_CHILDREN_CHANGED';
  path: string;
}

export interface CreateResult {
  path: string;
  /** the path of its parent */
  parentPath: string;
  node: ZNode;
  undo: Undo;
}

/**
 * Node data of up to DATA_COPIED_MAX_BYTES is copied into the tree's slabs (DataSlabs), so callers
 * may pass views of bytes they reuse (a log entry's); larger data is held as given, so callers pass
 * bytes the tree may keep (txn-decode.ts keeps a view of a large value only where it pins little).
 */
export const DATA_COPIED_MAX_BYTES = 2048;

/** reserve() takes a count from a snapshot's header: beyond this many nodes the index grows as it fills */
const RESERVE_MAX_NODES = 8 * 1024 * 1024;

export class DataTree {
  private readonly nodes = new PathMap<ZNode>();
  /** small node data written here (slabs the size of Node's Buffer pool, which held it before) */
  private readonly slabs = new DataSlabs(8 * 1024, DATA_COPIED_MAX_BYTES);
  /** restoreNode's last parent and its path ('' for the root), for the siblings that follow */
  private restoringParent: ZNode | undefined;
  private restoringParentPath = '';
  /** session or lease id -> paths of the ephemeral nodes it owns */
  private readonly ephemerals = new Map<number, Set<string>>();
  /** containers and TTL nodes: candidates for reaping, checked by the leader */
  readonly containers = new Set<string>();
  readonly ttlNodes = new Set<string>();
  private dataBytes = 0;

  constructor() {
    this.nodes.set(ROOT, new ZNode(EMPTY, 'PERSISTENT', 0, 0, 0, 0));
    this.insert(SYSTEM_PATH, new ZNode(EMPTY, 'PERSISTENT', 0, 0, 0, 0), this.nodes.get(ROOT)!, 0);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Makes room in the index for `count` nodes in all (a restore, from its header; at most RESERVE_MAX_NODES). */
  reserve(count: number): void {
    this.nodes.reserve(Math.min(count, RESERVE_MAX_NODES));
  }

  get ephemeralCount(): number {
    let count = 0;
    for (const owned of this.ephemerals.values()) count += owned.size;
    return count;
  }

  /** Approximate bytes of node data held. */
  get approximateDataSize(): number {
    return this.dataBytes;
  }

  get(path: string): ZNode | undefined {
    return this.nodes.get(path);
  }

  getOrThrow(path: string): ZNode {
    const node = this.nodes.get(path);
    if (node === undefined) throw new NoNodeError(`no node at ${path}`, { path });
    return node;
  }

  /** Child names, sorted. */
  children(path: string): string[] {
    const node = this.getOrThrow(path);
    if (node.children === undefined) return [];
    const prefix = path === ROOT ? 1 : path.length + 1;
    const names: string[] = [];
    for (const child of node.children) names.push(child.slice(prefix));
    return names.sort();
  }

  /** Number of all descendants of `path`. */
  countDescendants(path: string): number {
    const node = this.getOrThrow(path);
    let count = 0;
    const stack: ZNode[] = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.children === undefined) continue;
      for (const child of n.children) {
        count++;
        stack.push(this.nodes.get(child)!);
      }
    }
    return count;
  }

  ephemeralsOf(owner: number): ReadonlySet<string> {
    return this.ephemerals.get(owner) ?? new Set();
  }

  /**
   * All paths in the tree, parents before children (for snapshots). That is the map's order, the
   * order of insertion: a node is inserted after its parent, which cannot go while it has children
   * (a multi that fails undoes its deletes in reverse, so a parent comes back before its children;
   * a restored root keeps its place). Walking the map builds no path and looks nothing up.
   */
  walk(): IterableIterator<[string, ZNode]> {
    return this.nodes.entries();
  }

  /**
   * Creates a node. For sequential kinds `path` is the prefix and the parent's cversion gives the
   * suffix, as in ZooKeeper. Checks: parent exists and is not ephemeral, node does not exist.
   */
  create(
    path: string,
    data: Uint8Array,
    kind: NodeKind,
    ttl: number,
    owner: number,
    zxid: number,
    time: number,
  ): CreateResult {
    // A sequential prefix may end in '/' (then the name is just the suffix): its parent is the prefix.
    const parentPath = path.endsWith('/') ? (path.length === 1 ? ROOT : path.slice(0, -1)) : parentOf(path);
    const parent = this.nodes.get(parentPath);
    if (parent === undefined) throw new NoNodeError(`parent ${parentPath} does not exist`, { path: parentPath });
    if (isEphemeralKind(parent.kind)) {
      throw new NoChildrenForEphemeralsError(`${parentPath} is ephemeral and cannot have children`, { path: parentPath });
    }
    const actual = isSequentialKind(kind) ? path + sequenceSuffix(parent.cversion) : path;
    const node = new ZNode(EMPTY, kind, zxid, time, isEphemeralKind(kind) ? owner : 0, isTtlKind(kind) ? ttl : 0);
    if (!this.nodes.add(actual, node)) throw new NodeExistsError(`${actual} already exists`, { path: actual });

    this.keepData(node, data);
    const parentCversion = parent.cversion;
    const parentPzxid = parent.pzxid;
    this.link(actual, node, parent, zxid);
    return {
      path: actual,
      parentPath,
      node,
      undo: () => {
        this.remove(actual, node, parent);
        parent.cversion = parentCversion;
        parent.pzxid = parentPzxid;
      },
    };
  }

  /** Deletes a childless node, checking `version` (-1: any). */
  delete(path: string, version: number, zxid: number): Undo {
    const node = this.getOrThrow(path);
    if (version !== -1 && node.version !== version) {
      throw new BadVersionError(`version of ${path} is ${node.version}, not ${version}`, { path });
    }
    if (node.numChildren > 0) throw new NotEmptyError(`${path} has children`, { path });
    const parent = this.nodes.get(parentOf(path))!;
    const parentCversion = parent.cversion;
    const parentPzxid = parent.pzxid;
    this.remove(path, node, parent);
    parent.cversion++;
    parent.pzxid = zxid;
    return () => {
      this.insert(path, node, parent, undefined);
      parent.cversion = parentCversion;
      parent.pzxid = parentPzxid;
    };
  }

  /** Replaces a node's data, checking `version` (-1: any). */
  setData(path: string, data: Uint8Array, version: number, zxid: number, time: number): { node: ZNode; undo: Undo } {
    const node = this.getOrThrow(path);
    if (version !== -1 && node.version !== version) {
      throw new BadVersionError(`version of ${path} is ${node.version}, not ${version}`, { path });
    }
    const before = { data: node.data, mzxid: node.mzxid, mtime: node.mtime, version: node.version };
    this.dataBytes += data.length - node.dataLength;
    this.keepData(node, data);
    node.mzxid = zxid;
    node.mtime = time;
    node.version++;
    return {
      node,
      undo: () => {
        this.dataBytes += before.data.length - node.dataLength;
        node.data = before.data;
        node.mzxid = before.mzxid;
        node.mtime = before.mtime;
        node.version = before.version;
      },
    };
  }

  /** Checks that `path` exists with `version` (-1: any), as a multi's check op. */
  check(path: string, version: number): void {
    const node = this.getOrThrow(path);
    if (version !== -1 && node.version !== version) {
      throw new BadVersionError(`version of ${path} is ${node.version}, not ${version}`, { path });
    }
  }

  /**
   * Restores a node from a snapshot record, exactly as it was (stat included). Parents come before
   * children in a snapshot, so the parent exists.
   */
  restoreNode(path: string, node: ZNode): void {
    if (path === ROOT || path === SYSTEM_PATH) {
      const existing = this.nodes.get(path)!;
      this.restoringParent = undefined;
      this.nodes.set(path, node);
      node.children = existing.children;
      this.dataBytes += node.dataLength - existing.dataLength;
      return;
    }
    // Siblings come one after the other in a snapshot: their parent is looked up once.
    const slash = path.lastIndexOf('/');
    let parent = this.restoringParent;
    if (parent === undefined || slash !== this.restoringParentPath.length || !path.startsWith(this.restoringParentPath)) {
      const parentPath = slash === 0 ? ROOT : path.slice(0, slash);
      parent = this.nodes.get(parentPath);
      if (parent === undefined) throw new Error(`snapshot lists ${path} before its parent`);
      this.restoringParent = parent;
      this.restoringParentPath = slash === 0 ? '' : parentPath;
    }
    this.nodes.set(path, node);
    (parent.children ??= new Set()).add(path);
    this.track(path, node);
  }

  /** Makes `data` the node's: small data copied into the slabs, larger data as given. */
  private keepData(node: ZNode, data: Uint8Array): void {
    const n = data.length;
    if (n === 0 || n > DATA_COPIED_MAX_BYTES) {
      node.data = n === 0 ? EMPTY : data;
      return;
    }
    this.slabs.place(data, 0, n);
    node.setDataIn(this.slabs.placedIn, this.slabs.placedAt, n);
  }

  /** Links `node` at `path` under `parent`; with a zxid, bumps the parent's cversion and pzxid as a create does. */
  private insert(path: string, node: ZNode, parent: ZNode, zxid: number | undefined): void {
    this.nodes.set(path, node);
    this.link(path, node, parent, zxid);
  }

  /** insert() for a node already in the index. */
  private link(path: string, node: ZNode, parent: ZNode, zxid: number | undefined): void {
    (parent.children ??= new Set()).add(path);
    if (zxid !== undefined) {
      parent.cversion++;
      parent.pzxid = zxid;
    }
    this.track(path, node);
  }

  private track(path: string, node: ZNode): void {
    this.dataBytes += node.dataLength;
    if (node.ephemeralOwner !== 0) {
      let owned = this.ephemerals.get(node.ephemeralOwner);
      if (owned === undefined) this.ephemerals.set(node.ephemeralOwner, (owned = new Set()));
      owned.add(path);
    }
    if (node.kind === 'CONTAINER') this.containers.add(path);
    else if (node.ttl > 0) this.ttlNodes.add(path);
  }

  private remove(path: string, node: ZNode, parent: ZNode): void {
    this.nodes.delete(path);
    parent.children!.delete(path);
    if (parent.children!.size === 0) parent.children = undefined;
    this.dataBytes -= node.dataLength;
    if (node.ephemeralOwner !== 0) {
      const owned = this.ephemerals.get(node.ephemeralOwner)!;
      owned.delete(path);
      if (owned.size === 0) this.ephemerals.delete(node.ephemeralOwner);
    }
    this.containers.delete(path);
    this.ttlNodes.delete(path);
  }
}
