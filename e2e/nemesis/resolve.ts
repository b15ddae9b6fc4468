/**
 * Unknown outcomes, resolved from the committed log (as etcd's robustness tests do with the watch
 * stream): a write whose client never learned its outcome either is in the committed log or is not.
 *
 * - Not in the log: it never took effect and never will (the run is over, the cluster converged and
 *   every member's log agrees); it becomes a failed operation, which Porcupine leaves out.
 * - In the log but failed at apply (BAD_VERSION...): no effect either; left out the same way.
 * - In the log and applied: it becomes an ok operation with the output the log gives (the new
 *   version), and a return time bounded by the earliest completion of any acknowledged write that
 *   the log placed after it (that write was applied after it, and acknowledged after that).
 *   Without such a write it stays unknown (Porcupine may still place it at the very end).
 *
 * Without this, every unknown operation stays concurrent with everything after it and the search
 * grows exponentially with their number: a long run has hundreds.
 */
import type { Operation, TxnPattern } from './history.js';
import type { CommittedTxn } from './replay.js';
import type { CheckedHistory } from './workload.js';

export interface Resolution {
  unknown: number;
  applied: number;
  /** applied, but no later acknowledged write bounds when: still unknown */
  appliedUnbounded: number;
  failedAtApply: number;
  absent: number;
  /** matched more than one committed transaction: left unknown */
  ambiguous: number;
  /** no pattern to look for, or too early for the part of the log that was replayed */
  unmatched: number;
}

/**
 * `txns` are the log's client writes above `coveredFrom` (the snapshot the replay started from);
 * only an operation invoked after some write at or above coveredFrom was acknowledged can have its
 * transaction there, so only those can be found absent. `moreAcks` are acknowledged writes outside
 * the histories ([zxid, completion µs]: the write after healing), used as return-time bounds.
 */
export function resolveUnknowns(
  checked: CheckedHistory[],
  txns: CommittedTxn[],
  coveredFrom: number,
  moreAcks: ReadonlyArray<readonly [number, number]> = [],
): Resolution {
  const result: Resolution = { unknown: 0, applied: 0, appliedUnbounded: 0, failedAtApply: 0, absent: 0, ambiguous: 0, unmatched: 0 };
  const index = new Map<string, CommittedTxn[]>();
  for (const t of txns) {
    const key = `${t.sessionId}|${t.op}|${t.path}`;
    if (!index.has(key)) index.set(key, []);
    index.get(key)!.push(t);
  }
  // Return-time bounds: for zxid z, the earliest completion of an acknowledged write after z.
  const acked = checked
    .flatMap((c) => c.history.ops)
    .filter((op) => op.status === 'ok' && op.zxid !== undefined && op.ret !== undefined)
    .map((op) => [op.zxid!, op.ret!] as const)
    .concat(moreAcks)
    .sort((a, b) => a[0] - b[0]);
  const suffixMin: number[] = new Array(acked.length + 1).fill(Infinity);
  for (let i = acked.length - 1; i >= 0; i--) suffixMin[i] = Math.min(suffixMin[i + 1]!, acked[i]![1]);
  const boundAfter = (zxid: number): number => {
    let lo = 0;
    let hi = acked.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (acked[mid]![0] <= zxid) lo = mid + 1;
      else hi = mid;
    }
    return suffixMin[lo]!;
  };

  let coveredSince = coveredFrom === 0 ? -Infinity : Infinity;
  for (const [zxid, ret] of acked) if (zxid >= coveredFrom && ret < coveredSince) coveredSince = ret;

  // Transactions that acknowledged operations account for: by zxid when their response told it, else
  // (a delete) by what they sent; a successful transaction can belong to one operation only.
  const claimedZxids = new Set<number>();
  const claimedPatterns = new Map<string, TxnPattern[]>();
  for (const { history } of checked) {
    for (const op of history.ops) {
      if (op.status !== 'ok' || op.txn === undefined) continue;
      if (op.zxid !== undefined) {
        claimedZxids.add(op.zxid);
      } else {
        const key = `${op.txn.op}|${op.txn.path}`;
        if (!claimedPatterns.has(key)) claimedPatterns.set(key, []);
        claimedPatterns.get(key)!.push(op.txn);
      }
    }
  }
  const fits = (t: CommittedTxn, p: TxnPattern) => (p.data === undefined || t.data?.toString() === p.data) && (p.version === undefined || t.version === p.version);
  const claimed = (t: CommittedTxn) =>
    claimedZxids.has(t.zxid) || (t.error === undefined && (claimedPatterns.get(`${t.op}|${t.path}`) ?? []).some((p) => fits(t, p)));

  for (const { model, history } of checked) {
    for (const op of history.ops as Operation<Record<string, unknown>, Record<string, unknown>>[]) {
      if (op.status !== 'info') continue;
      result.unknown++;
      const p = op.txn;
      if (p === undefined) {
        result.unmatched++;
        continue;
      }
      const candidates = (index.get(`${p.sessionId}|${p.op}|${p.path}`) ?? []).filter(
        (t) => fits(t, p) && !claimed(t),
      );
      if (candidates.length > 1) {
        result.ambiguous++;
        continue;
      }
      const t = candidates[0];
      if (t === undefined) {
        if (op.call <= coveredSince) {
          result.unmatched++; // it may be in the part of the log a snapshot replaced
          continue;
        }
        op.status = 'fail';
        op.resolved = 'absent';
        result.absent++;
        continue;
      }
      if (t.error !== undefined) {
        op.status = 'fail';
        op.resolved = 'failed';
        op.error = `${op.error} (the log has it failing with ${t.error})`;
        result.failedAtApply++;
        continue;
      }
      const output: Record<string, unknown> = { ...(op.output ?? {}) };
      if (model === 'register' && t.stat) output.version = t.stat.version;
      if (model === 'queue' && op.input.op === 'dequeue') output.value = op.input.target;
      if (model === 'queue' && op.input.op === 'enqueue' && t.created) output.seq = Number(t.created.slice(t.created.lastIndexOf('-') + 1));
      const bound = boundAfter(t.zxid);
      if (!Number.isFinite(bound) || bound < op.call) {
        result.appliedUnbounded++;
        continue;
      }
      op.status = 'ok';
      op.resolved = 'applied';
      op.output = output;
      op.ret = bound;
      op.zxid = t.zxid;
      result.applied++;
    }
  }
  return result;
}
