/**
 * Checks on what recipe tests record: logs of critical sections as (token, enter, exit) in the
 * order they happened. Appending to one log (an array in one process, an O_APPEND file across
 * processes) orders the entries in real time, so overlap shows as two enters in a row. Also small
 * helpers for tests that run clients through faults.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Conclave } from '@conclave/client';

export interface Section {
  /** who (worker or client index) */
  w: number | string;
  e: 'enter' | 'exit';
  /** fencing token */
  t: number;
  /** for read-write locks: r or w */
  k?: 'r' | 'w';
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Creates `path`, retrying through failovers until `timeoutMs`: a write whose outcome is unknown
 * (the leader changed, the connection broke) is tried again, and NODE_EXISTS on a retry means an
 * earlier attempt applied. For tests whose subject is not the failover itself.
 */
export async function createThroughFailovers(client: Conclave, path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let retry = false; ; retry = true) {
    try {
      await client.create(path);
      return;
    } catch (error) {
      if (retry && (error as { code?: string }).code === 'NODE_EXISTS') return;
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export function readLog(file: string): Section[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Section);
}

/**
 * Mutual exclusion: sections never overlap (an exit follows each enter, by the same holder with
 * the same token), and tokens strictly increase from one holder to the next. Returns the number
 * of sections.
 */
export function assertExclusive(log: Section[]): number {
  let holder: Section | undefined;
  let last = -Infinity;
  let sections = 0;
  for (const [i, s] of log.entries()) {
    if (s.e === 'enter') {
      assert.equal(holder, undefined, `entry ${i}: ${s.w} entered (token ${s.t}) while ${holder?.w} held the lock (token ${holder?.t})`);
      assert.ok(s.t > last, `entry ${i}: token ${s.t} after ${last}: fencing tokens must increase`);
      holder = s;
      last = s.t;
      sections++;
    } else {
      assert.ok(holder && holder.w === s.w && holder.t === s.t, `entry ${i}: ${s.w} exited (token ${s.t}) but ${holder?.w ?? 'nobody'} held it`);
      holder = undefined;
    }
  }
  assert.equal(holder, undefined, 'a section never ended');
  return sections;
}

/**
 * At most `max` holders at once, each with its own token. (Tokens increase in the order granted,
 * but holders of a semaphore log their entries concurrently, so the log need not show that order.)
 * Returns the peak.
 */
export function assertBounded(log: Section[], max: number): number {
  const holders = new Map<number, Section>();
  const seen = new Set<number>();
  let peak = 0;
  for (const [i, s] of log.entries()) {
    if (s.e === 'enter') {
      assert.ok(!seen.has(s.t), `entry ${i}: token ${s.t} handed out twice`);
      seen.add(s.t);
      holders.set(s.t, s);
      peak = Math.max(peak, holders.size);
      assert.ok(holders.size <= max, `entry ${i}: ${holders.size} holders at once, more than ${max}`);
    } else {
      assert.ok(holders.delete(s.t), `entry ${i}: exit of token ${s.t} that was not held`);
    }
  }
  assert.equal(holders.size, 0, 'a section never ended');
  return peak;
}

/** Read-write exclusion: a writer alone, readers only with readers. Returns the peak of concurrent readers. */
export function assertReadWrite(log: Section[]): number {
  const readers = new Set<number>();
  let writer: number | undefined;
  let peak = 0;
  for (const [i, s] of log.entries()) {
    if (s.e === 'enter') {
      assert.equal(writer, undefined, `entry ${i}: ${s.k === 'w' ? 'writer' : 'reader'} ${s.t} entered while writer ${writer} held the lock`);
      if (s.k === 'w') {
        assert.equal(readers.size, 0, `entry ${i}: writer ${s.t} entered while ${readers.size} readers held the lock`);
        writer = s.t;
      } else {
        readers.add(s.t);
        peak = Math.max(peak, readers.size);
      }
    } else if (s.k === 'w') {
      assert.equal(writer, s.t, `entry ${i}: writer ${s.t} exited without holding`);
      writer = undefined;
    } else {
      assert.ok(readers.delete(s.t), `entry ${i}: reader ${s.t} exited without holding`);
    }
  }
  return peak;
}
