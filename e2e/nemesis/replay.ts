/**
 * The committed history, from the members' own logs: after a run, each member's data dir is copied
 * (the WAL recovery cuts torn tails in place, so it never runs on the original) and its snapshot
 * and log are replayed through the server's state machine, yielding every change that fires
 * watches, with its zxid. Also compares the members' logs entry by entry up to the commit index
 * (Raft's Log Matching, checked from the outside).
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotStore, Wal } from '@conclave/server/dist/src/storage/index.js';
import { SnapshotRestorer, StateMachine, type ApplyOutcome, type Txn } from '@conclave/server/dist/src/fsm/state-machine.js';
import { addSnapshotRecord, decodeTxn } from '@conclave/server/dist/src/codec.js';
import { EntryType, type Entry } from '@conclave/server/dist/src/raft/index.js';
import { LogReplay } from '@conclave/server/dist/src/storage/log-store.js';
import { scanSegment } from '@conclave/server/dist/src/storage/wal-format.js';
import type { ReferenceChange } from './workloads/watches.js';

/** A committed write as the log holds it, with the outcome it had when applied. */
export interface CommittedTxn {
  zxid: number;
  sessionId: number;
  op: string;
  /** the path asked for (before a sequence suffix); for a multi, that of its first setData (else first op) */
  path: string;
  data: Buffer | undefined;
  version: number | undefined;
  /** the error code when it failed at apply (no effect) */
  error: string | undefined;
  /** the resulting stat of a setData (or a multi's first setData) */
  stat: { version: number; mzxid: number } | undefined;
  /** the path a create made (with its sequence suffix) */
  created?: string;
}

/** What the checks compare against: the committed changes and client writes, in log order. */
export interface CommittedHistory {
  /** changes after `coveredFrom` */
  changes: ReferenceChange[];
  /** client writes after `coveredFrom` */
  txns: CommittedTxn[];
  /** the snapshot the replay started from (0: the log goes back to the start) */
  coveredFrom: number;
}

export interface ReplayedMember extends CommittedHistory {
  id: number;
  lastIndex: number;
  /** index -> "term:sha256 of type and data" */
  entries: Map<number, string>;
  fsm: StateMachine;
}

/** Replays one member's data dir up to `commitIndex`. */
export async function replayMember(id: number, dataDir: string, commitIndex: number): Promise<ReplayedMember> {
  const copy = mkdtempSync(path.join(os.tmpdir(), `conclave-replay-${id}-`));
  try {
    cpSync(dataDir, copy, { recursive: true });
    const { wal, recovered } = await Wal.open(path.join(copy, 'wal'), { preallocate: false });
    await wal.close();
    let fsm = new StateMachine();
    let coveredFrom = 0;
    // Snapshots do not remove entries until the log is compacted: read every entry the segments
    // still hold, and start from the empty state when they reach back to index 1.
    const whole = await wholeLog(path.join(copy, 'wal'));
    if (whole[0]?.index === 1) {
      recovered.entries = whole;
    } else if (whole.length > 0 || recovered.snapshot !== undefined) {
      // Start from the oldest snapshot the remaining entries continue (a member that installed one
      // from the leader has nothing before it).
      const store = await SnapshotStore.open(path.join(copy, 'snap'));
      const from = whole.length > 0 ? whole[0]!.index - 1 : recovered.snapshot!.index;
      const file = (await store.list()).filter((s) => s.meta.index >= from).sort((a, b) => a.meta.index - b.meta.index)[0];
      if (file === undefined) throw new Error(`member ${id}: no snapshot continues its log (first entry ${from + 1})`);
      const restorer = new SnapshotRestorer();
      for await (const batch of store.read(file.path)) for (const bytes of batch) addSnapshotRecord(restorer, bytes);
      fsm = restorer.finish();
      coveredFrom = file.meta.index;
      recovered.entries = whole.length > 0 ? whole : recovered.entries;
    }
    const { changes, txns, entries } = applyEntries(fsm, recovered.entries, commitIndex);
    return { id, changes, coveredFrom, lastIndex: fsm.appliedIndex, entries, txns, fsm };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** Replays the committed log 1..n (LogArchive's committedLog) from the empty state. */
export function replayCommitted(entries: Entry[]): CommittedHistory {
  if (entries.length > 0 && entries[0]!.index !== 1) throw new Error(`the committed log starts at ${entries[0]!.index}, not 1`);
  const { changes, txns } = applyEntries(new StateMachine(), entries, Infinity);
  return { changes, txns, coveredFrom: 0 };
}

/** Applies entries up to `commitIndex` to `fsm` (skipping those it has), collecting what the checks need. */
function applyEntries(fsm: StateMachine, log: Entry[], commitIndex: number) {
  const changes: ReferenceChange[] = [];
  const txns: CommittedTxn[] = [];
  const entries = new Map<number, string>();
  for (const entry of log) {
    if (entry.index > commitIndex) break;
    entries.set(entry.index, `${entry.term}:${createHash('sha256').update(Buffer.from([entry.type])).update(entry.data).digest('hex').slice(0, 16)}`);
    if (entry.index <= fsm.appliedIndex) continue;
    if (entry.type === EntryType.ConfChange || entry.data.length === 0) {
      fsm.advance(entry.index, entry.term);
      continue;
    }
    const txn = decodeTxn(entry.data);
    const outcome = fsm.apply(entry.index, entry.term, txn);
    for (const c of outcome.changes) changes.push({ type: c.type, path: c.path, zxid: c.zxid });
    const committed = describeTxn(entry.index, txn, outcome);
    if (committed) txns.push(committed);
  }
  return { changes, txns, entries };
}

function describeTxn(zxid: number, txn: Txn, outcome: ApplyOutcome): CommittedTxn | undefined {
  const error = outcome.error?.code;
  const base = { zxid, sessionId: txn.sessionId, op: txn.op as string, error, stat: undefined };
  switch (txn.op) {
    case 'create':
      return {
        ...base,
        path: txn.create!.path,
        data: Buffer.from(txn.create!.data),
        version: undefined,
        created: outcome.result.op === 'create' ? outcome.result.path : undefined,
      };
    case 'delete':
      return { ...base, path: txn.delete!.path, data: undefined, version: txn.delete!.version };
    case 'setData': {
      const r = outcome.result;
      return {
        ...base,
        path: txn.setData!.path,
        data: Buffer.from(txn.setData!.data),
        version: txn.setData!.version,
        stat: r.op === 'setData' ? { version: r.stat.version, mzxid: r.stat.mzxid } : undefined,
      };
    }
    case 'multi': {
      const ops = txn.multi!.ops;
      const i = Math.max(0, ops.findIndex((o) => o.setData));
      const o = ops[i];
      if (o === undefined) return undefined;
      const r = outcome.result.op === 'multi' ? outcome.result.results[i] : undefined;
      const stat = r && 'setData' in r ? { version: r.setData.stat.version, mzxid: r.setData.stat.mzxid } : undefined;
      if (o.setData) return { ...base, path: o.setData.path, data: Buffer.from(o.setData.data), version: o.setData.version, stat };
      if (o.create) return { ...base, path: o.create.path, data: Buffer.from(o.create.data), version: undefined, stat };
      if (o.delete) return { ...base, path: o.delete.path, data: undefined, version: o.delete.version, stat };
      if (o.check) return { ...base, path: o.check.path, data: undefined, version: o.check.version, stat };
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Every entry the WAL segments hold (a later write of an index replaces it and what follows), snapshot markers ignored. */
async function wholeLog(dir: string): Promise<Entry[]> {
  const files = readdirSync(dir).filter((f) => /^wal-[0-9a-f]+-[0-9a-f]+\.log$/.test(f)).sort();
  const replay = new LogReplay();
  for (let i = 0; i < files.length; i++) {
    const file = path.join(dir, files[i]!);
    const { records } = scanSegment(readFileSync(file), file, i === files.length - 1);
    for (const r of records) if (r.kind === 'entry') replay.entry(r.entry);
  }
  return replay.entries;
}

/** Entries that two members hold at the same index but differ in (both at or below the commit index). */
export function logMismatches(members: ReplayedMember[]): string[] {
  const problems: string[] = [];
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i]!;
      const b = members[j]!;
      for (const [index, entry] of a.entries) {
        const other = b.entries.get(index);
        if (other !== undefined && other !== entry) {
          problems.push(`members ${a.id} and ${b.id} differ at index ${index}: ${entry} vs ${other}`);
          break;
        }
      }
    }
  }
  return problems;
}
