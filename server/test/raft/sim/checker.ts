/**
 * The simulator's judge. It watches every Ready of every member and fails on any breach of:
 * Election Safety, Leader Append-Only, Log Matching, Leader Completeness, State Machine Safety
 * (Raft paper, Figure 3), monotonic term and commit (in memory per incarnation, and on the
 * durable state across restarts), one vote per term, and linearizable ReadIndex answers.
 *
 * Logs are compared by chain hash: hash(i) = h(hash(i-1), term(i), entry(i)), so equal hashes at
 * an index mean equal logs up to it. The state machine's digest uses the same chain.
 */

import type { Entry, HardState } from '../../../src/raft/index.js';

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
}

function fail(message: string): never {
  throw new SafetyViolation(message);
}

/** Identity of an entry's content (data bytes and type). */
export function contentHash(e: Entry): number {
  let h = 0x811c9dc5 ^ e.type;
  const d = e.data;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}

/** The chain hash after `prev` and entry (term, content): 53 bits from two 32-bit lanes. */
export function chain(prev: number, term: number, content: number): number {
  const lo = prev % 0x100000000;
  const hi = Math.floor(prev / 0x100000000);
  let a = Math.imul(lo ^ term, 0x9e3779b1) ^ content;
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b) >>> 0;
  let b = Math.imul(hi ^ content ^ (term << 7), 0xc2b2ae35) ^ lo;
  b = Math.imul(b ^ (b >>> 13), 0x27d4eb2f) >>> 0;
  return (b & 0x1fffff) * 0x100000000 + a;
}

/** A member's log as handed out for persistence, reduced to terms and chain hashes. */
export class MirrorLog {
  private base = 0;
  private baseTerm = 0;
  private baseHash = 0;
  private terms: number[] = [];
  private hashes: number[] = [];

  get lastIndex(): number {
    return this.base + this.terms.length;
  }

  get firstIndex(): number {
    return this.base;
  }

  termAt(index: number): number | undefined {
    if (index === this.base) return this.baseTerm;
    return index > this.base ? this.terms[index - this.base - 1] : undefined;
  }

  hashAt(index: number): number | undefined {
    if (index === this.base) return this.baseHash;
    return index > this.base ? this.hashes[index - this.base - 1] : undefined;
  }

  reset(index: number, term: number, hash: number): void {
    this.base = index;
    this.baseTerm = term;
    this.baseHash = hash;
    this.terms = [];
    this.hashes = [];
  }

  /** Appends (truncating a suffix), reporting each new (index, term, hash) to `seen`. */
  append(entries: readonly Entry[], seen: (index: number, term: number, hash: number) => void): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    let skip = 0;
    while (skip < entries.length && entries[skip]!.index <= this.base) skip++;
    if (skip === entries.length) return;
    const from = entries[skip]!.index;
    let prev = this.hashAt(from - 1);
    if (prev === undefined) fail(`entries from ${first} leave a gap after ${this.lastIndex}`);
    this.terms.length = from - this.base - 1;
    this.hashes.length = from - this.base - 1;
    for (let i = skip; i < entries.length; i++) {
      const e = entries[i]!;
      prev = chain(prev, e.term, contentHash(e));
      this.terms.push(e.term);
      this.hashes.push(prev);
      seen(e.index, e.term, prev);
    }
  }
}

interface ReadCheck {
  member: number;
  minIndex: number;
}

export class Checker {
  private readonly leaderOfTerm = new Map<number, number>();
  /** (index, term) → chain hash: Log Matching. */
  private readonly entryHashes = new Map<number, number>();
  /** Chain hash of every committed index 0..maxCommitted. */
  private readonly committedHashes: number[] = [0];
  /**
   * For every committed index, the term in which it was (first seen) committed: the term of the
   * first member to claim it, a leader. Kept as a running maximum along the log.
   */
  private readonly commitTerms: number[] = [0];
  private readonly reads = new Map<number, ReadCheck>();
  maxCommitted = 0;
  leaderChanges = 0;

  /** Log Matching: one chain hash per (index, term), across all members and all time. */
  readonly seenEntry = (index: number, term: number, hash: number): void => {
    if (term >= 0x100000) fail(`term ${term} out of the checker's range`);
    const key = index * 0x100000 + term;
    const known = this.entryHashes.get(key);
    if (known === undefined) this.entryHashes.set(key, hash);
    else if (known !== hash) fail(`Log Matching: two different logs end at (index ${index}, term ${term})`);
  };

  /** Election Safety and Leader Completeness, when `member` is seen leading `term`. */
  leader(member: number, term: number, log: MirrorLog): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== member) fail(`Election Safety: ${other} and ${member} both lead term ${term}`);
    if (other === undefined) {
      this.leaderOfTerm.set(term, member);
      this.leaderChanges++;
    }
    // Every entry committed in an earlier term must be in the leader's log: a prefix of the
    // committed log, since commitTerms only grows along it.
    let lo = 0;
    let hi = this.maxCommitted;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.commitTerms[mid]! < term) lo = mid;
      else hi = mid - 1;
    }
    if (lo === 0) return;
    // A prefix compacted into the leader's snapshot is checked at the snapshot's index.
    const at = Math.max(lo, log.firstIndex);
    if (at > lo && at > this.maxCommitted) fail(`leader ${member} has a snapshot at ${at} beyond any commit`);
    if (log.hashAt(at) !== this.committedHashes[at]) {
      fail(`Leader Completeness: leader ${member} of term ${term} lacks committed entry ${lo}`);
    }
  }

  /** `member`, in `term`, claims entries up to `commit` are committed: they must agree with every other claim. */
  commit(member: number, term: number, commit: number, log: MirrorLog): void {
    if (commit <= 0) return;
    const hash = log.hashAt(commit);
    if (hash === undefined) fail(`member ${member} commits ${commit} outside its log [${log.firstIndex}, ${log.lastIndex}]`);
    if (commit <= this.maxCommitted) {
      if (this.committedHashes[commit] !== hash) fail(`State Machine Safety: member ${member} commits another entry ${commit}`);
      return;
    }
    const known = log.hashAt(this.maxCommitted);
    if (known !== undefined && known !== this.committedHashes[this.maxCommitted]) {
      fail(`State Machine Safety: member ${member} commits ${commit} over a log diverging at ${this.maxCommitted}`);
    }
    const commitTerm = Math.max(term, this.commitTerms[this.maxCommitted]!);
    for (let i = this.maxCommitted + 1; i <= commit; i++) {
      const h = log.hashAt(i);
      if (h === undefined) fail(`member ${member} commits ${commit} but its log misses ${i}`);
      this.committedHashes[i] = h;
      this.commitTerms[i] = commitTerm;
    }
    this.maxCommitted = commit;
  }

  /**
   * State Machine Safety: the state machine after index `index` has the committed digest. Applying
   * an entry claims it committed (a member applies what it knows a quorum holds, possibly before
   * its own copy or its commit index is on its disk): the first to apply an index beyond every
   * commit seen records it, in `term` (the member's current term, at least the one in which the
   * entry was committed), so that every later leader must hold it (Leader Completeness) and every
   * other member must apply the same.
   */
  applied(member: number, term: number, index: number, digest: number): void {
    if (index > this.maxCommitted + 1) fail(`member ${member} applies ${index}, beyond any commit (${this.maxCommitted})`);
    if (index === this.maxCommitted + 1) {
      this.committedHashes[index] = digest;
      this.commitTerms[index] = Math.max(term, this.commitTerms[this.maxCommitted]!);
      this.maxCommitted = index;
      return;
    }
    if (this.committedHashes[index] !== digest) fail(`State Machine Safety: member ${member} applied another entry ${index}`);
  }

  /** Term and commit never go back, and a vote once cast in a term never changes. */
  hardState(member: number, before: HardState, after: HardState, where: string): void {
    if (after.term < before.term) fail(`${where}: term of ${member} went back from ${before.term} to ${after.term}`);
    if (after.commit < before.commit) fail(`${where}: commit of ${member} went back from ${before.commit} to ${after.commit}`);
    if (after.term === before.term && before.vote !== 0 && after.vote !== before.vote) {
      fail(`${where}: member ${member} changed its vote in term ${after.term} from ${before.vote} to ${after.vote}`);
    }
  }

  /** A ReadIndex request: its answers (the network may duplicate them) must cover everything committed before it was made. */
  readRequested(id: number, member: number): void {
    this.reads.set(id, { member, minIndex: this.maxCommitted });
  }

  readAnswered(id: number, member: number, index: number): void {
    const req = this.reads.get(id);
    if (req === undefined) fail(`member ${member} answers unknown read ${id}`);
    if (req.member !== member) fail(`read ${id} of member ${req.member} answered on ${member}`);
    if (index < req.minIndex) fail(`stale read: read ${id} answered at ${index}, but ${req.minIndex} was committed before it`);
  }
}
