/** The client's public data types. */
export type NodeKind =
  | 'PERSISTENT'
  | 'EPHEMERAL'
  | 'PERSISTENT_SEQUENTIAL'
  | 'EPHEMERAL_SEQUENTIAL'
  | 'CONTAINER'
  | 'PERSISTENT_WITH_TTL'
  | 'PERSISTENT_SEQUENTIAL_WITH_TTL';

/** ZooKeeper's Stat. */
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

export type EventType = 'NODE_CREATED' | 'NODE_DELETED' | 'NODE_DATA_CHANGED' | 'NODE_CHILDREN_CHANGED' | 'WATCH_RESET';

export interface WatchEvent {
  type: EventType;
  path: string;
  /** the transaction that caused it; events of one multi share it */
  zxid: number;
}

export type Watcher = (event: WatchEvent) => void;

/** Session states, as ZooKeeper's client reports them. */
export type SessionState = 'connecting' | 'connected' | 'disconnected' | 'reconnected' | 'expired' | 'closed';

export type Data = Uint8Array | string;

export interface CreateOptions {
  kind?: NodeKind;
  /** for TTL kinds */
  ttlMs?: number;
  /** own an ephemeral node by a lease rather than this session */
  leaseId?: number;
}

export type Op =
  | { op: 'create'; path: string; data?: Data; kind?: NodeKind; ttlMs?: number }
  | { op: 'delete'; path: string; version?: number }
  | { op: 'setData'; path: string; data: Data; version?: number }
  | { op: 'check'; path: string; version: number };

export type OpResult =
  | { op: 'create'; path: string }
  | { op: 'delete' }
  | { op: 'setData'; stat: Stat }
  | { op: 'check' };

export interface RequestOptions {
  /** abort waiting for the answer (the request may still be applied) */
  signal?: AbortSignal;
  /** milliseconds to wait for the answer */
  timeoutMs?: number;
}

export interface ReadOptions extends RequestOptions {
  /** confirm with a quorum first (linearizable), instead of reading this member's state */
  linearizable?: boolean;
}
