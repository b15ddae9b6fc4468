/**
 * Counters incremented by compare-and-set: read the value and version, setData(value + 1) at that
 * version, retry on BAD_VERSION. One increment is one operation, from its first read to the CAS that
 * succeeded; a CAS with an unknown outcome ends it as unknown (retrying could count it twice).
 * Checked by Porcupine (model "counter", one partition per counter) with linearizable reads, and
 * here: the final value lies between the acknowledged increments and those plus the unknown ones.
 */
import type { Conclave } from '@conclave/client';
import { History, codeOf } from '../history.js';
import type { Random } from '../random.js';
import type { CheckedHistory, Finding, RunContext, Workload } from '../workload.js';
import { ignoreExists } from './register.js';

export interface CounterInput {
  key: string;
  op: 'incr' | 'read';
}

export interface CounterOutput {
  value?: number;
}

const ROOT = '/nem/counter';
const MAX_ATTEMPTS = 20;

export class CounterWorkload implements Workload {
  readonly name = 'counter';
  readonly history = new History<CounterInput, CounterOutput>('counter');
  private readonly keys: string[];
  private readonly finalValues = new Map<string, number>();
  private casRetries = 0;
  private attempts = 0;

  constructor(
    keys: number,
    private readonly workers: number,
    private readonly random: Random,
  ) {
    this.keys = Array.from({ length: keys }, (_, i) => `c${i}`);
  }

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
    for (const key of this.keys) await client.create(`${ROOT}/${key}`, '0').catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    await Promise.all(
      Array.from({ length: this.workers }, (_, w) => {
        const random = this.random.fork();
        return ctx.worker(`counter-${w}`, this.history, random, async (client, process) => {
          const key = random.pick(this.keys);
          if (random.chance(0.3)) {
            await this.read(client, process, key);
            return process;
          }
          return this.increment(client, process, key);
        });
      }),
    );
  }

  private async increment(client: Conclave, process: number, key: string): Promise<number> {
    const path = `${ROOT}/${key}`;
    const op = this.history.invoke(process, 'incr', { key, op: 'incr' });
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let current;
      try {
        current = await client.get(path);
      } catch (error) {
        this.history.fail(op, error);
        return process;
      }
      // The value, then a tag that makes this attempt's transaction unique (to find it in the log).
      const data = `${valueOf(current.data) + 1} ${process}.${++this.attempts}`;
      op.txn = { sessionId: client.sessionId, op: 'setData', path, data, version: current.stat.version };
      try {
        const stat = await client.set(path, data, { version: current.stat.version });
        this.history.ok(op, {}, stat.mzxid);
        return process;
      } catch (error) {
        if (codeOf(error) === 'BAD_VERSION') {
          this.casRetries++;
          continue;
        }
        return this.history.failOrInfo(op, error) === 'info' ? this.history.newProcess() : process;
      }
    }
    this.history.fail(op, new Error(`gave up after ${MAX_ATTEMPTS} conflicting attempts`));
    return process;
  }

  private async read(client: Conclave, process: number, key: string): Promise<number | undefined> {
    const op = this.history.invoke(process, 'read', { key, op: 'read' });
    try {
      const r = await client.get(`${ROOT}/${key}`, { linearizable: true });
      const value = valueOf(r.data);
      this.history.ok(op, { value });
      return value;
    } catch (error) {
      this.history.fail(op, error);
      return undefined;
    }
  }

  async finish(client: Conclave): Promise<void> {
    const process = this.history.newProcess();
    for (const key of this.keys) {
      const value = await this.read(client, process, key);
      if (value === undefined) throw new Error(`final read of counter ${key} failed`);
      this.finalValues.set(key, value);
    }
  }

  checked(): CheckedHistory[] {
    return [{ model: 'counter', history: this.history }];
  }

  check(): Finding[] {
    return this.keys.map((key) => {
      const incrs = this.history.ops.filter((op) => op.input.key === key && op.input.op === 'incr');
      const acked = incrs.filter((op) => op.status === 'ok').length;
      const unknown = incrs.filter((op) => op.status === 'info').length;
      const value = this.finalValues.get(key) ?? NaN;
      return {
        workload: this.name,
        check: `counter ${key}: acknowledged <= final value <= acknowledged + unknown`,
        ok: value >= acked && value <= acked + unknown,
        detail: `final ${value}, ${acked} acknowledged, ${unknown} unknown`,
      };
    });
  }

  summary(): Record<string, number> {
    return { ...this.history.counts, casRetries: this.casRetries };
  }
}

/** The counter's value: the first word of its data. */
function valueOf(data: Buffer): number {
  return Number(data.toString().split(' ')[0]);
}
