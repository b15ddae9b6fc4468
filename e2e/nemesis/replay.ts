/**
 * The committed history, from the members' own logs: after a run, each member's data dir is copied
 * (the WAL recovery cuts torn tails in place, so it never runs on the original) and its snapshot
 * and log are replayed through the server's state machine, yielding every change that fires
 * watches, with its zxid. Also compares the members' logs entry by entry up to the commit index
 * (Raft's Log Matching, checked from the outside).
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotStore, Wal } from '@conclave/server/dist/src/storage/index.js';
import { SnapshotRestorer, StateMachine } from '@conclave/server/dist/src/fsm/state-machine.js';
import { decodeSnapshotRecord, decodeTxn } from '@conclave/server/dist/src/codec.js';
import { EntryType } from '@conclave/server/dist/src/raft/index.js';
import type { ReferenceChange } from './workloads/watches.js';

export interface ReplayedMember {
  id: number;
  /** changes after `coveredFrom`, in log order */
  changes: ReferenceChange[];
  /** the snapshot the replay started from (0: the log goes back to the start) */
  coveredFrom: number;
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
    if (recovered.snapshot !== undefined) {
      const store = await SnapshotStore.open(path.join(copy, 'snap'));
      const file = (await store.list()).find((s) => s.meta.index === recovered.snapshot!.index);
      if (file === undefined) throw new Error(`member ${id}: snapshot ${recovered.snapshot.index} named by the log is missing`);
      const restorer = new SnapshotRestorer();
      for await (const bytes of store.read(file.path)) restorer.add(decodeSnapshotRecord(bytes));
      fsm = restorer.finish();
      coveredFrom = recovered.snapshot.index;
    }
    const changes: ReferenceChange[] = [];
    const entries = new Map<number, string>();
    for (const entry of recovered.entries) {
      if (entry.index > commitIndex) break;
      entries.set(entry.index, `${entry.term}:${createHash('sha256').update(Buffer.from([entry.type])).update(entry.data).digest('hex').slice(0, 16)}`);
      if (entry.index <= fsm.appliedIndex) continue;
      if (entry.type === EntryType.ConfChange || entry.data.length === 0) {
        fsm.advance(entry.index, entry.term);
        continue;
      }
      const outcome = fsm.apply(entry.index, entry.term, decodeTxn(entry.data));
      for (const c of outcome.changes) changes.push({ type: c.type, path: c.path, zxid: c.zxid });
    }
    return { id, changes, coveredFrom, lastIndex: fsm.appliedIndex, entries, fsm };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
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
