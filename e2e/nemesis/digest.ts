/**
 * Tree digests: a SHA-256 over every node (path, data, all Stat fields), read from one member
 * through its own client port with sessionless unary reads (served from that member's applied
 * state, no sync, and no write: opening a session would itself be a transaction). The same digest is
 * computed from a state machine replayed from a log, so members can be compared with each other and
 * with their own logs.
 *
 * A member changes while it is read if a write commits meanwhile (a session expiring, a container
 * reaped), so digestsAgree() reads every member at one applied index, retrying until they hold still.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi } from '@conclave/proto';
import type { StateMachine } from '@conclave/server/dist/src/fsm/state-machine.js';

interface StatLike {
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

export interface TreeDigest {
  digest: string;
  nodes: number;
  /** the node lines, for finding where two members differ */
  lines: Map<string, string>;
}

function line(path: string, data: Uint8Array, s: StatLike): string {
  const stat = [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion, s.ephemeralOwner, s.dataLength, s.numChildren].join(',');
  return `${path} ${Buffer.from(data).toString('base64')} ${stat}`;
}

function finish(lines: Map<string, string>): TreeDigest {
  const hash = createHash('sha256');
  for (const path of [...lines.keys()].sort()) hash.update(lines.get(path)! + '\n');
  return { digest: hash.digest('hex'), nodes: lines.size, lines };
}

type Callback<T> = (error: grpc.ServiceError | null, value: T) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Stub = Record<string, (request: any, options: grpc.CallOptions, callback: Callback<any>) => void> & grpc.Client;

function call<T>(stub: Stub, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) =>
    stub[method]!.call(stub, request, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))),
  );
}

/** Reads every node of one member (`host:port` of its client port). */
export async function memberDigest(endpoint: string): Promise<TreeDigest> {
  const stub = new (loadPublicApi().conclave.v1.Conclave)(endpoint, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  }) as unknown as Stub;
  try {
    const lines = new Map<string, string>();
    const root = await call<{ data: Buffer; stat: StatLike }>(stub, 'GetData', { path: '/' });
    lines.set('/', line('/', root.data, root.stat));
    let frontier = ['/'];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const parent of frontier) {
        const { children } = await call<{ children: string[] }>(stub, 'GetChildren', { path: parent });
        const paths = children.map((c) => (parent === '/' ? `/${c}` : `${parent}/${c}`));
        for (let i = 0; i < paths.length; i += 500) {
          const chunk = paths.slice(i, i + 500);
          const { results } = await call<{ results: { getData?: { data: Buffer; stat: StatLike }; error?: { code: string } }[] }>(stub, 'MultiRead', {
            ops: chunk.map((path) => ({ getData: { path } })),
          });
          results.forEach((r, j) => {
            if (!r.getData) throw new Error(`member ${endpoint}: ${chunk[j]} listed but not readable (${r.error?.code})`);
            lines.set(chunk[j]!, line(chunk[j]!, r.getData.data, r.getData.stat));
            if (r.getData.stat.numChildren > 0) next.push(chunk[j]!);
          });
        }
      }
      frontier = next;
    }
    return finish(lines);
  } finally {
    stub.close();
  }
}

/** The digest of a (replayed) state machine's tree, in the same form. */
export function stateMachineDigest(fsm: StateMachine): TreeDigest {
  const lines = new Map<string, string>();
  const visit = (path: string) => {
    const node = fsm.tree.get(path)!;
    lines.set(path, line(path, node.data, node.stat()));
    for (const child of fsm.tree.children(path)) visit(path === '/' ? `/${child}` : `${path}/${child}`);
  };
  visit('/');
  return finish(lines);
}

/** The first path where two digests differ, described. */
export function firstDifference(a: TreeDigest, b: TreeDigest): string {
  for (const path of [...new Set([...a.lines.keys(), ...b.lines.keys()])].sort()) {
    const x = a.lines.get(path);
    const y = b.lines.get(path);
    if (x !== y) return `${path}: ${x ?? '(absent)'} vs ${y ?? '(absent)'}`;
  }
  return 'none';
}
