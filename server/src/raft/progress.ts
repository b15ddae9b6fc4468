/**
 * The leader's view of one follower (after etcd-io/raft's tracker.Progress and Inflights).
 *
 * Probe: one MsgApp at a time until the follower's match is found. Replicate: optimistic
 * pipelining, up to maxInflight MsgApp in flight. Snapshot: a snapshot is on its way; nothing else
 * is sent until reportSnapshot() or the follower's acknowledgement.
 */

export enum ProgressState {
  Probe = 'probe',
  Replicate = 'replicate',
  Snapshot = 'snapshot',
}

/** A ring of the last indexes of the MsgApp in flight, oldest first. */
export class Inflights {
  private readonly buffer: Float64Array;
  private start = 0;
  count = 0;

  constructor(capacity: number) {
    this.buffer = new Float64Array(capacity);
  }

  full(): boolean {
    return this.count === this.buffer.length;
  }

  add(lastIndex: number): void {
    const capacity = this.buffer.length;
    this.buffer[(this.start + this.count) % capacity] = lastIndex;
    this.count++;
  }

  /** Frees the messages whose last index is <= index (acknowledged). */
  freeLE(index: number): void {
    const capacity = this.buffer.length;
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  /** Highest index known to be persisted by the member. */
  match = 0;
  /** Next index to send. match < next. */
  next: number;
  state = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round (the leader itself always is). */
  recentActive: boolean;
  /** In Probe: a probe is in flight; in Replicate: the inflight window is full. */
  msgAppFlowPaused = false;
  isLearner: boolean;
  /** Highest commit index sent to the member, so a lagging commit can be sent without entries. */
  sentCommit = 0;
  readonly inflights: Inflights;

  constructor(next: number, isLearner: boolean, maxInflight: number, recentActive: boolean) {
    this.next = next;
    this.isLearner = isLearner;
    this.recentActive = recentActive;
    this.inflights = new Inflights(maxInflight);
  }

  /** Back to a fresh probe from `next` (on a new term). */
  reset(next: number): void {
    this.match = 0;
    this.next = next;
    this.state = ProgressState.Probe;
    this.pendingSnapshot = 0;
    this.recentActive = false;
    this.msgAppFlowPaused = false;
    this.sentCommit = 0;
    this.inflights.reset();
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      // The snapshot was sent: probe right after it, unless the member is already further.
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /** Accounts for a MsgApp carrying `entries` entries ending at next - 1 + entries. */
  sentEntries(entries: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (entries > 0) {
      this.msgAppFlowPaused = true;
    }
  }

  /** Whether the commit index should be sent even without new entries. */
  canBumpCommit(commit: number): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** Records an acknowledgement up to n; false if it is stale. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Handles a rejection of the MsgApp whose previous index was `rejected`, with the follower's
   * hint of where the logs may match. False if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    // A probe has exactly one MsgApp in flight, at next - 1: anything else is stale.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    return this.state === ProgressState.Snapshot || this.msgAppFlowPaused;
  }
}
