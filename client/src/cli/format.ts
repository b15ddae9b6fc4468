/** What the CLI prints: error lines and exit codes, stats, tables, data for JSON. Pure. */
import { ConclaveError, type ErrorCode } from '@conclave/proto/errors';
import type { MemberStatus, Membership } from '../admin.js';
import type { Stat } from '../types.js';
import { EXIT } from './args.js';

/** NO_NODE -> NoNode: ZooKeeper's names for the codes. */
export const errorName = (code: string): string =>
  code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');

const EXIT_BY_CODE: Partial<Record<ErrorCode, number>> = {
  NO_NODE: EXIT.NOT_FOUND,
  NODE_EXISTS: EXIT.CONFLICT,
  BAD_VERSION: EXIT.CONFLICT,
  NOT_EMPTY: EXIT.CONFLICT,
  NO_CHILDREN_FOR_EPHEMERALS: EXIT.CONFLICT,
  INVALID_PATH: EXIT.USAGE,
  INVALID_ARGUMENT: EXIT.USAGE,
  DATA_TOO_LARGE: EXIT.USAGE,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  TIMEOUT: EXIT.UNAVAILABLE,
  SESSION_EXPIRED: EXIT.UNAVAILABLE,
  SESSION_MOVED: EXIT.UNAVAILABLE,
  NOT_LEADER: EXIT.UNAVAILABLE,
};

export function exitCodeFor(error: unknown): number {
  const code = (error as ConclaveError | undefined)?.code;
  return (code && EXIT_BY_CODE[code]) || EXIT.GENERIC;
}

/** One line: "conclave: NoNode: no node at /x". */
export function errorLine(error: unknown): string {
  const message = String((error as Error | undefined)?.message ?? error).split('\n')[0];
  return error instanceof ConclaveError ? `conclave: ${errorName(error.code)}: ${message}` : `conclave: ${message}`;
}

/** Data in JSON: as text when it is valid UTF-8, else base64. */
export function jsonData(data: Buffer): { data: string; encoding: 'utf8' | 'base64' } {
  const text = data.toString('utf8');
  return Buffer.from(text, 'utf8').equals(data) ? { data: text, encoding: 'utf8' } : { data: data.toString('base64'), encoding: 'base64' };
}

const time = (ms: number) => (ms > 0 ? `${new Date(ms).toISOString()} (${ms})` : '0');

/** A stat as aligned "name  value" lines, in ZooKeeper's order. */
export function formatStat(stat: Stat): string {
  const rows: [string, string | number][] = [
    ['czxid', stat.czxid],
    ['mzxid', stat.mzxid],
    ['pzxid', stat.pzxid],
    ['ctime', time(stat.ctime)],
    ['mtime', time(stat.mtime)],
    ['version', stat.version],
    ['cversion', stat.cversion],
    ['aversion', stat.aversion],
    ['ephemeralOwner', stat.ephemeralOwner === 0 ? '0' : `${stat.ephemeralOwner} (0x${stat.ephemeralOwner.toString(16)})`],
    ['dataLength', stat.dataLength],
    ['numChildren', stat.numChildren],
  ];
  return rows.map(([k, v]) => `${k.padEnd(15)}${v}`).join('\n');
}

/** Rows as a left-aligned table with a header. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd()).join('\n');
}

export type StatusRow = { endpoint: string; status: MemberStatus } | { endpoint: string; error: Error };

/** `cluster status`: one row per member; lag as the leader reports it. */
export function formatStatus(rows: StatusRow[]): string {
  const leader = rows.find((r): r is { endpoint: string; status: MemberStatus } => 'status' in r && r.status.role === 'LEADER');
  const lag = new Map(leader?.status.progress.map((p) => [p.id, p.lag]) ?? []);
  return table(
    ['ID', 'ENDPOINT', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAG', 'ZNODES', 'SESSIONS'],
    rows.map((r) =>
      'status' in r
        ? [
            r.status.memberId,
            r.endpoint,
            r.status.role,
            r.status.term,
            r.status.leaderId || '-',
            r.status.commitIndex,
            r.status.appliedIndex,
            lag.get(r.status.memberId) ?? '-',
            r.status.znodeCount,
            r.status.sessionCount,
          ]
        : ['-', r.endpoint, `unreachable: ${errorLine(r.error).replace(/^conclave: /, '')}`],
    ),
  );
}

export function formatMembers(m: Membership): string {
  const body = table(
    ['ID', 'ROLE', 'PEER', 'CLIENT'],
    m.members.map((x) => [x.id, x.voter ? 'voter' : 'learner', x.peerAddress, x.clientAddress || '-']),
  );
  return `${body}\ncluster ${m.clusterId}${m.removedIds.length ? `; removed ids: ${m.removedIds.join(', ')}` : ''}`;
}
