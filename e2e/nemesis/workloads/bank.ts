/**
 * Multi transactions: a bank and pairs.
 *
 * Bank: accounts are nodes holding a balance. A transfer reads two accounts and moves an amount with
 * one multi: check + setData of the source at the version read, setData of the destination at the
 * version read. Reads are multiReads of every account (linearizable ones are in the history). Checked
 * by Porcupine (model "bank": balances and versions) and here: every read, local ones included, sees
 * the same total and no negative balance (a multi is all or nothing, and a read sees one state).
 *
 * Pairs: multi([create x<i>, create y<i>]) and, sometimes, a third op that must fail (a check at a
 * wrong version): afterwards x<i> exists exactly when y<i> does, and never for a failed multi.
 */
import type { Conclave, Op } from '@conclave/client';
import { History, codeOf } from '../history.js';
import type { Random } from '../random.js';
import type { CheckedHistory, Finding, RunContext, Workload } from '../workload.js';
import { ignoreExists } from './register.js';

export interface BankInput {
  op: 'transfer' | 'read';
  from?: number;
  to?: number;
  amount?: number;
  fromVersion?: number;
  toVersion?: number;
}

export interface BankOutput {
  balances?: number[];
  versions?: number[];
  badVersion?: boolean;
}

const ROOT = '/nem/bank';
const PAIRS = '/nem/pairs';
export const INITIAL_BALANCE = 100;

export class BankWorkload implements Workload {
  readonly name = 'bank';
  readonly history = new History<BankInput, BankOutput>('bank');
  readonly pairs = new History<{ i: number; doomed: boolean }, Record<string, never>>('pairs');
  private readonly badTotals: string[] = [];
  private reads = 0;
  private finalPairs: { x: Set<number>; y: Set<number> } | undefined;

  constructor(
    private readonly accounts: number,
    private readonly workers: number,
    private readonly random: Random,
  ) {}

  private path(account: number): string {
    return `${ROOT}/a${account}`;
  }

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
    await client.create(PAIRS).catch(ignoreExists);
    for (let a = 0; a < this.accounts; a++) await client.create(this.path(a), String(INITIAL_BALANCE)).catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    let nextPair = 0;
    await Promise.all(
      Array.from({ length: this.workers }, (_, w) => {
        const random = this.random.fork();
        return ctx.worker(`bank-${w}`, this.history, random, async (client, process) => {
          const what = random.weighted([[3, 'transfer'], [2, 'read'], [1, 'local'], [1, 'pair']] as const);
          if (what === 'read') {
            await this.read(client, process, true);
            return process;
          }
          if (what === 'local') {
            await this.read(client, process, false);
            return process;
          }
          if (what === 'pair') {
            await this.pair(client, nextPair++, random.chance(0.3));
            return process;
          }
          return this.transfer(client, process, random);
        });
      }),
    );
  }

  private async transfer(client: Conclave, process: number, random: Random): Promise<number> {
    const from = random.int(0, this.accounts - 1);
    let to = random.int(0, this.accounts - 2);
    if (to >= from) to++;
    const state = await this.snapshot(client, false).catch(() => undefined);
    if (state === undefined) return process;
    const balance = state.balances[from]!;
    const amount = balance === 0 ? 0 : random.int(1, Math.min(balance, 20));
    const input: BankInput = { op: 'transfer', from, to, amount, fromVersion: state.versions[from], toVersion: state.versions[to] };
    const ops: Op[] = [
      { op: 'check', path: this.path(from), version: state.versions[from]! },
      { op: 'setData', path: this.path(from), data: String(balance - amount), version: state.versions[from] },
      { op: 'setData', path: this.path(to), data: String(state.balances[to]! + amount), version: state.versions[to] },
    ];
    const op = this.history.invoke(process, 'transfer', input, { sessionId: client.sessionId, op: 'multi', path: this.path(from), data: String(balance - amount), version: state.versions[from] });
    try {
      const results = await client.multi(ops);
      this.history.ok(op, {}, (results[1] as { stat: { mzxid: number } }).stat.mzxid);
      return process;
    } catch (error) {
      if (codeOf(error) === 'BAD_VERSION') {
        this.history.fail(op, error, { badVersion: true });
        return process;
      }
      return this.history.failOrInfo(op, error) === 'info' ? this.history.newProcess() : process;
    }
  }

  private async snapshot(client: Conclave, linearizable: boolean): Promise<{ balances: number[]; versions: number[] }> {
    const results = await client.multiRead(
      Array.from({ length: this.accounts }, (_, a) => ({ op: 'getData' as const, path: this.path(a) })),
      { linearizable },
    );
    const balances: number[] = [];
    const versions: number[] = [];
    for (const r of results) {
      if ('error' in r) throw r.error;
      const { data, stat } = r as { data: Buffer; stat: { version: number } };
      balances.push(Number(data.toString()));
      versions.push(stat.version);
    }
    const total = balances.reduce((a, b) => a + b, 0);
    this.reads++;
    if (total !== this.accounts * INITIAL_BALANCE || balances.some((b) => b < 0)) {
      this.badTotals.push(`${linearizable ? 'linearizable' : 'local'} read saw [${balances.join(', ')}] (total ${total})`);
    }
    return { balances, versions };
  }

  private async read(client: Conclave, process: number, linearizable: boolean): Promise<void> {
    if (!linearizable) {
      await this.snapshot(client, false).catch(() => undefined);
      return;
    }
    const op = this.history.invoke(process, 'read', { op: 'read' });
    try {
      this.history.ok(op, await this.snapshot(client, true));
    } catch (error) {
      this.history.fail(op, error);
    }
  }

  private async pair(client: Conclave, i: number, doomed: boolean): Promise<void> {
    const ops: Op[] = [
      { op: 'create', path: `${PAIRS}/x${i}`, data: String(i) },
      { op: 'create', path: `${PAIRS}/y${i}`, data: String(i) },
    ];
    // A check that cannot pass: the whole multi must fail and create nothing.
    if (doomed) ops.push({ op: 'check', path: ROOT, version: 1_000_000 });
    const op = this.pairs.invoke(0, 'pair', { i, doomed });
    try {
      await client.multi(ops);
      this.pairs.ok(op, {});
    } catch (error) {
      this.pairs.failOrInfo(op, error);
    }
  }

  async finish(client: Conclave): Promise<void> {
    await this.read(client, this.history.newProcess(), true);
    await client.sync(PAIRS);
    const names = await client.getChildren(PAIRS);
    const x = new Set<number>();
    const y = new Set<number>();
    for (const name of names) (name.startsWith('x') ? x : y).add(Number(name.slice(1)));
    this.finalPairs = { x, y };
  }

  checked(): CheckedHistory[] {
    return [{ model: 'bank', history: this.history }];
  }

  check(): Finding[] {
    const halves: string[] = [];
    const wrong: string[] = [];
    const { x, y } = this.finalPairs ?? { x: new Set<number>(), y: new Set<number>() };
    for (const i of new Set([...x, ...y])) if (x.has(i) !== y.has(i)) halves.push(`pair ${i}: only ${x.has(i) ? 'x' : 'y'}`);
    for (const op of this.pairs.ops) {
      const present = x.has(op.input.i);
      if (op.input.doomed && present) wrong.push(`doomed multi ${op.input.i} created its nodes`);
      if (op.status === 'ok' && op.input.doomed) wrong.push(`doomed multi ${op.input.i} was acknowledged`);
      if (op.status === 'ok' && !present) wrong.push(`acknowledged multi ${op.input.i} lost`);
      if (op.status === 'fail' && present) wrong.push(`failed multi ${op.input.i} applied`);
    }
    return [
      {
        workload: this.name,
        check: 'every read sees the same total, no negative balance',
        ok: this.badTotals.length === 0,
        detail: this.badTotals.length === 0 ? `${this.reads} reads` : this.badTotals.slice(0, 10).join('; '),
      },
      {
        workload: this.name,
        check: 'multi is all or nothing (pairs), acknowledged ones kept, failed ones absent',
        ok: halves.length === 0 && wrong.length === 0 && this.finalPairs !== undefined,
        detail: halves.length + wrong.length === 0 ? `${this.pairs.ops.length} pair multis (${this.pairs.counts.ok} ok, ${this.pairs.counts.fail} failed, ${this.pairs.counts.info} unknown)` : [...halves, ...wrong].slice(0, 20).join('; '),
      },
    ];
  }

  summary(): Record<string, number> {
    return { ...this.history.counts, totalReads: this.reads, pairMultis: this.pairs.ops.length };
  }
}
