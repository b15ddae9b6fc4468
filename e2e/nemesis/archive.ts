/**
 * A copy of every WAL segment every member ever wrote, so that the committed log of the whole run
 * can be read after it even though members compact their logs (released segments are deleted) and
 * replaced members are wiped.
 *
 * The copy costs nothing: every 100 ms (and before a member's data is wiped) each new segment file
 * is hard-linked into `<dir>/wal-archive/<id>/`. A segment is appended and truncated in place, so
 * the link sees everything the member writes to it; when the member deletes the segment, the link
 * keeps its last contents. The server is not touched.
 *
 * `committedLog` then rebuilds the committed log from all of them: what the current members hold up
 * to the commit index, extended backwards through any older log that shares an entry with it (Raft's
 * Log Matching: equal index and term, equal log up to there), never trusting a member's own idea
 * of what was committed (a member that installs a snapshot records the new commit index while its
 * stale, never committed tail is still in its last segment: a nemesis run caught exactly that).
 */
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Entry } from '@conclave/server/dist/src/raft/index.js';
import { scanSegment } from '@conclave/server/dist/src/storage/wal-format.js';

const SEGMENT = /^wal-[0-9a-f]+-[0-9a-f]+\.log$/;

export class LogArchive {
  private readonly walDirs = new Map<number, string>();
  private readonly linked = new Set<string>();
  private counter = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  /** Starts archiving a member's WAL (its data dir need not exist yet). */
  add(id: number, dataDir: string): void {
    this.walDirs.set(id, path.join(dataDir, 'wal'));
    mkdirSync(path.join(this.root, String(id)), { recursive: true });
  }

  start(): void {
    this.timer ??= setInterval(() => this.sweep(), 100);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sweep();
  }

  /** Links every segment not linked yet; `only` limits it to one member. */
  sweep(only?: number): void {
    for (const [id, dir] of this.walDirs) {
      if (only !== undefined && id !== only) continue;
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => SEGMENT.test(n)).sort();
      } catch {
        continue; // not created yet, or wiped
      }
      for (const name of names) {
        const source = path.join(dir, name);
        try {
          const key = `${id}:${statSync(source).ino}`;
          if (this.linked.has(key)) continue;
          linkSync(source, path.join(this.root, String(id), `${String(this.counter++).padStart(6, '0')}-${name}`));
          this.linked.add(key);
        } catch {
          // released between readdir and link: it was linked on an earlier sweep unless it lived < 100 ms
        }
      }
    }
  }

  /** Member ids with an archive. */
  get ids(): number[] {
    return [...this.walDirs.keys()];
  }

  /** One member's log as it wrote it: the parts between the jumps where it installed a snapshot. */
  memberLog(id: number): MemberLog {
    const dir = path.join(this.root, String(id));
    const files = readdirSync(dir).sort();
    const epochs: Entry[][] = [];
    let entries: Entry[] = [];
    for (const name of files) {
      const file = path.join(dir, name);
      // Every archived segment may end in a torn or zero-filled tail (the member was killed, or the
      // segment was preallocated): read each as the last one.
      const { records } = scanSegment(readFileSync(file), file, true);
      for (const r of records) {
        if (r.kind !== 'entry') continue;
        const next = (entries.at(-1)?.index ?? r.entry.index - 1) + 1;
        if (r.entry.index > next) {
          epochs.push(entries);
          entries = [r.entry];
        } else {
          // A rewrite of an index replaces it and what follows (a follower's conflicting tail).
          const first = entries[0]?.index ?? r.entry.index;
          entries.length = Math.max(0, r.entry.index - first);
          entries.push(r.entry);
        }
      }
    }
    epochs.push(entries);
    return { id, epochs: epochs.filter((e) => e.length > 0) };
  }
}

export interface MemberLog {
  id: number;
  /** contiguous runs of entries, each as the member's log was when the next run began */
  epochs: Entry[][];
}

export interface CommittedLog {
  /** entries 1..n, contiguous, when complete */
  entries: Entry[];
  complete: boolean;
  /** the highest index below the part of the log that could be rebuilt (undefined when complete) */
  firstMissing: number | undefined;
  /** entries that agree in index and term with the committed log but not in content (Raft forbids it) */
  conflicts: string[];
}

/**
 * The committed log 1..commitIndex from every member's archive. Trusted from the start: what the
 * `current` members (which had all applied `commitIndex` when the run ended) hold up to it. Then,
 * by Raft's Log Matching property (two logs with an entry of the same index and term are identical
 * up to it), any part of any member's log that shares an entry with the trusted log is trusted up
 * to that entry, which extends the trusted log backwards; repeated until nothing more is learnt.
 * Entries past the shared one (a stale, never committed tail) are ignored.
 */
export function committedLog(archive: LogArchive, current: number[], commitIndex: number): CommittedLog {
  const trusted = new Map<number, Entry>();
  const conflicts: string[] = [];
  const logs = archive.ids.map((id) => archive.memberLog(id));
  const sameEntry = (a: Entry, b: Entry) => a.term === b.term && a.type === b.type && Buffer.compare(a.data, b.data) === 0;
  const trust = (entries: Entry[], upTo: number, from: number) => {
    for (const e of entries) {
      if (e.index > upTo) break;
      const known = trusted.get(e.index);
      if (known === undefined) trusted.set(e.index, e);
      else if (!sameEntry(known, e) && conflicts.length < 10) conflicts.push(`index ${e.index}: term ${known.term} and member ${from}'s term ${e.term}`);
    }
  };
  for (const { id, epochs } of logs) if (current.includes(id) && epochs.length > 0) trust(epochs.at(-1)!, commitIndex, id);
  const pending = logs.flatMap(({ id, epochs }) => epochs.map((entries) => ({ id, entries })));
  for (let learnt = true; learnt; ) {
    learnt = false;
    for (let i = pending.length - 1; i >= 0; i--) {
      const { id, entries } = pending[i]!;
      // The highest entry this part shares with the trusted log.
      let shared: number | undefined;
      for (let k = entries.length - 1; k >= 0 && shared === undefined; k--) {
        const known = trusted.get(entries[k]!.index);
        if (known !== undefined && known.term === entries[k]!.term) shared = entries[k]!.index;
      }
      if (shared === undefined) continue;
      const before = trusted.size;
      trust(entries, shared, id);
      pending.splice(i, 1);
      if (trusted.size > before) learnt = true;
    }
  }
  const entries: Entry[] = [];
  let firstMissing: number | undefined;
  for (let index = commitIndex; index >= 1; index--) {
    if (!trusted.has(index)) {
      firstMissing = index;
      break;
    }
  }
  if (firstMissing === undefined) for (let index = 1; index <= commitIndex; index++) entries.push(trusted.get(index)!);
  return { entries, complete: firstMissing === undefined, firstMissing, conflicts };
}
