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
 * `committedLog` then rebuilds the committed log from all of them: each member's records in the
 * order it wrote them, an entry counted only where that member knew it committed (its persisted
 * commit index, or the cluster's commit index for the part of a current member's log that reaches
 * the end), and the members checked against each other wherever they overlap.
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

  /** One member's entries, in the order it wrote them, split where its log jumps (a snapshot installed). */
  memberLog(id: number): MemberLog {
    const dir = path.join(this.root, String(id));
    const files = readdirSync(dir).sort();
    const epochs: Epoch[] = [];
    let epoch: Epoch = { entries: [], commit: 0 };
    for (const name of files) {
      const file = path.join(dir, name);
      // Every archived segment may end in a torn or zero-filled tail (the member was killed, or the
      // segment was preallocated): read each as the last one.
      const { records } = scanSegment(readFileSync(file), file, true);
      for (const r of records) {
        if (r.kind === 'hardState') {
          epoch.commit = Math.max(epoch.commit, r.hardState.commit);
        } else if (r.kind === 'entry') {
          const entries = epoch.entries;
          const next = (entries.at(-1)?.index ?? r.entry.index - 1) + 1;
          if (r.entry.index > next) {
            epochs.push(epoch);
            epoch = { entries: [r.entry], commit: 0 };
          } else {
            // A rewrite of an index replaces it and what follows (a follower's conflicting tail).
            const first = entries[0]?.index ?? r.entry.index;
            if (r.entry.index < first) entries.length = 0;
            else entries.length = r.entry.index - first;
            entries.push(r.entry);
          }
        }
      }
    }
    epochs.push(epoch);
    return { id, epochs: epochs.filter((e) => e.entries.length > 0) };
  }
}

interface Epoch {
  /** contiguous */
  entries: Entry[];
  /** the highest commit index the member persisted while writing this part */
  commit: number;
}

export interface MemberLog {
  id: number;
  epochs: Epoch[];
}

export interface CommittedLog {
  /** entries 1..n, contiguous, when complete */
  entries: Entry[];
  /** the first index no member's archive shows committed (commitIndex + 1 when complete) */
  complete: boolean;
  firstMissing: number | undefined;
  /** entries two members hold at one committed index but differ in */
  conflicts: string[];
}

/**
 * The committed log 1..commitIndex from every member's archive. `current` are the members that had
 * applied `commitIndex` when the run ended: the last part of their log counts up to it.
 */
export function committedLog(archive: LogArchive, current: number[], commitIndex: number): CommittedLog {
  const byIndex = new Map<number, { entry: Entry; from: number }>();
  const conflicts: string[] = [];
  for (const id of archive.ids) {
    const { epochs } = archive.memberLog(id);
    epochs.forEach((epoch, i) => {
      const last = i === epochs.length - 1;
      const bound = Math.min(commitIndex, last && current.includes(id) ? commitIndex : epoch.commit);
      for (const entry of epoch.entries) {
        if (entry.index > bound) break;
        const known = byIndex.get(entry.index);
        if (known === undefined) {
          byIndex.set(entry.index, { entry, from: id });
        } else if (known.entry.term !== entry.term || known.entry.type !== entry.type || Buffer.compare(known.entry.data, entry.data) !== 0) {
          if (conflicts.length < 10) conflicts.push(`index ${entry.index}: member ${known.from} has term ${known.entry.term}, member ${id} term ${entry.term}`);
        }
      }
    });
  }
  const entries: Entry[] = [];
  let firstMissing: number | undefined;
  for (let index = 1; index <= commitIndex; index++) {
    const e = byIndex.get(index);
    if (e === undefined) {
      firstMissing = index;
      break;
    }
    entries.push(e.entry);
  }
  return { entries, complete: firstMissing === undefined, firstMissing, conflicts };
}
