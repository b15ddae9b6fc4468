/**
 * The configuration (voters, learners) and the per-member Progress, votes and majority
 * arithmetic (after etcd-io/raft's tracker and quorum packages, without joint consensus:
 * membership changes one member at a time, see confchange.ts).
 */

import { Progress } from './progress.js';
import { ConfChangeType, type ConfChange, type ConfState, type MemberId } from './types.js';

export enum VoteResult {
  Pending = 0,
  Won = 1,
  Lost = 2,
}

export class ProgressTracker {
  /** Sorted. */
  voters: MemberId[] = [];
  /** Sorted, disjoint from voters. */
  learners: MemberId[] = [];
  readonly progress = new Map<MemberId, Progress>();
  private readonly votes = new Map<MemberId, boolean>();
  private readonly maxInflight: number;
  /** Scratch space for the commit computation, to avoid an allocation per acknowledgement. */
  private matchScratch = new Float64Array(8);

  constructor(maxInflight: number) {
    this.maxInflight = maxInflight;
  }

  /** Replaces the configuration; every member gets a fresh Progress probing from `next`. */
  restore(conf: ConfState, next: number): void {
    this.voters = [...new Set(conf.voters)].sort((a, b) => a - b);
    this.learners = [...new Set(conf.learners)].filter((id) => !this.voters.includes(id)).sort((a, b) => a - b);
    this.progress.clear();
    for (const id of this.voters) this.progress.set(id, new Progress(next, false, this.maxInflight, true));
    for (const id of this.learners) this.progress.set(id, new Progress(next, true, this.maxInflight, true));
    this.votes.clear();
  }

  confState(): ConfState {
    return { voters: this.voters.slice(), learners: this.learners.slice() };
  }

  isVoter(id: MemberId): boolean {
    return this.voters.includes(id);
  }

  isLearner(id: MemberId): boolean {
    return this.learners.includes(id);
  }

  isMember(id: MemberId): boolean {
    return this.progress.has(id);
  }

  /** Why `cc` cannot apply to the current configuration, or undefined if it can. */
  validate(cc: ConfChange): string | undefined {
    switch (cc.type) {
      case ConfChangeType.AddLearner:
        return this.isMember(cc.memberId) ? `member ${cc.memberId} is already in the configuration` : undefined;
      case ConfChangeType.Promote:
        return this.isLearner(cc.memberId) ? undefined : `member ${cc.memberId} is not a learner`;
      case ConfChangeType.Remove:
        if (!this.isMember(cc.memberId)) return `member ${cc.memberId} is not in the configuration`;
        if (this.voters.length === 1 && this.voters[0] === cc.memberId) return 'cannot remove the last voter';
        return undefined;
      default:
        return `unknown conf change type ${String(cc.type)}`;
    }
  }

  /**
   * Applies a committed membership change. One that does not fit (see validate) is a no-op, the
   * same on every member, so the replicated configuration stays deterministic.
   * Returns whether the configuration changed.
   */
  apply(cc: ConfChange, next: number): boolean {
    if (cc.memberId <= 0 || this.validate(cc) !== undefined) return false;
    const id = cc.memberId;
    switch (cc.type) {
      case ConfChangeType.AddLearner:
        this.learners = insertSorted(this.learners, id);
        // Recently active, so check-quorum does not count a member that had no chance to answer.
        this.progress.set(id, new Progress(next, true, this.maxInflight, true));
        return true;
      case ConfChangeType.Promote:
        this.learners = this.learners.filter((m) => m !== id);
        this.voters = insertSorted(this.voters, id);
        this.progress.get(id)!.isLearner = false;
        return true;
      case ConfChangeType.Remove:
        this.voters = this.voters.filter((m) => m !== id);
        this.learners = this.learners.filter((m) => m !== id);
        this.progress.delete(id);
        this.votes.delete(id);
        return true;
    }
  }

  quorum(): number {
    return (this.voters.length >> 1) + 1;
  }

  /** The highest index persisted by a majority of voters (0 without voters). */
  committed(): number {
    const n = this.voters.length;
    if (n === 0) return 0;
    if (this.matchScratch.length < n) this.matchScratch = new Float64Array(n * 2);
    const m = this.matchScratch;
    for (let i = 0; i < n; i++) m[i] = this.progress.get(this.voters[i]!)!.match;
    // Insertion sort, descending: n is tiny.
    for (let i = 1; i < n; i++) {
      const v = m[i]!;
      let j = i - 1;
      while (j >= 0 && m[j]! < v) {
        m[j + 1] = m[j]!;
        j--;
      }
      m[j + 1] = v;
    }
    return m[this.quorum() - 1]!;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; only the first answer of each member counts. */
  recordVote(id: MemberId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return VoteResult.Won;
    if (this.voters.length - rejected < q) return VoteResult.Lost;
    return VoteResult.Pending;
  }

  /** Whether `acked` voters form a majority. */
  hasQuorum(acked: (id: MemberId) => boolean): boolean {
    let count = 0;
    for (const id of this.voters) if (acked(id)) count++;
    return count >= this.quorum();
  }
}

function insertSorted(ids: readonly MemberId[], id: MemberId): MemberId[] {
  const out = ids.slice();
  let i = out.length;
  while (i > 0 && out[i - 1]! > id) i--;
  out.splice(i, 0, id);
  return out;
}
