/**
 * Sets: adding a unique element is creating a child node named after it; reading the set is a
 * linearizable getChildren. Checked by Porcupine (model "set", one partition per set), and here:
 * every acknowledged add is in the final read (no acknowledged write lost), and nothing is in it
 * that was never added.
 */
import type { Conclave } from '@conclave/client';
import { History } from '../history.js';
import type { Random } from '../random.js';
import type { CheckedHistory, Finding, RunContext, Workload } from '../workload.js';
import { ignoreExists } from './register.js';

export interface SetInput {
  key: string;
  op: 'add' | 'read';
  element?: number;
}

export interface SetOutput {
  elements?: number[];
}

const ROOT = '/nem/set';

export class SetWorkload implements Workload {
  readonly name = 'set';
  readonly history = new History<SetInput, SetOutput>('set');
  private readonly keys: string[];
  private readonly finalRead = new Map<string, number[]>();

  constructor(
    keys: number,
    private readonly workers: number,
    private readonly random: Random,
  ) {
    this.keys = Array.from({ length: keys }, (_, i) => `s${i}`);
  }

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
    for (const key of this.keys) await client.create(`${ROOT}/${key}`).catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: this.workers }, (_, w) => {
        const random = this.random.fork();
        return ctx.worker(`set-${w}`, this.history, random, async (client, process) => {
          const key = random.pick(this.keys);
          if (random.chance(0.15)) {
            await this.read(client, process, key);
            return process;
          }
          const element = next++;
          const path = `${ROOT}/${key}/e${element}`;
          const op = this.history.invoke(process, 'add', { key, op: 'add', element }, { sessionId: client.sessionId, op: 'create', path });
          try {
            const { stat } = await client.createWithStat(path);
            this.history.ok(op, {}, stat.czxid);
            return process;
          } catch (error) {
            return this.history.failOrInfo(op, error) === 'info' ? this.history.newProcess() : process;
          }
        });
      }),
    );
  }

  private async read(client: Conclave, process: number, key: string): Promise<number[] | undefined> {
    const op = this.history.invoke(process, 'read', { key, op: 'read' });
    try {
      const names = await client.getChildren(`${ROOT}/${key}`, { linearizable: true });
      const elements = names.map((n) => Number(n.slice(1))).sort((a, b) => a - b);
      this.history.ok(op, { elements });
      return elements;
    } catch (error) {
      this.history.fail(op, error);
      return undefined;
    }
  }

  async finish(client: Conclave): Promise<void> {
    const process = this.history.newProcess();
    for (const key of this.keys) {
      const elements = await this.read(client, process, key);
      if (elements === undefined) throw new Error(`final read of set ${key} failed`);
      this.finalRead.set(key, elements);
    }
  }

  checked(): CheckedHistory[] {
    return [{ model: 'set', history: this.history }];
  }

  check(): Finding[] {
    const lost: string[] = [];
    const unexpected: string[] = [];
    let acked = 0;
    const attempted = new Map<string, Set<number>>();
    for (const op of this.history.ops) {
      if (op.input.op !== 'add') continue;
      const key = op.input.key;
      if (!attempted.has(key)) attempted.set(key, new Set());
      attempted.get(key)!.add(op.input.element!);
      if (op.status !== 'ok') continue;
      acked++;
      if (!this.finalRead.get(key)?.includes(op.input.element!)) lost.push(`${key}/e${op.input.element}`);
    }
    for (const [key, elements] of this.finalRead) {
      for (const e of elements) if (!attempted.get(key)?.has(e)) unexpected.push(`${key}/e${e}`);
    }
    return [
      {
        workload: this.name,
        check: 'no acknowledged add lost',
        ok: lost.length === 0,
        detail: lost.length === 0 ? `${acked} acknowledged adds all present` : `${lost.length} lost: ${lost.slice(0, 20).join(', ')}`,
      },
      {
        workload: this.name,
        check: 'no element that was never added',
        ok: unexpected.length === 0,
        detail: unexpected.length === 0 ? 'none' : unexpected.slice(0, 20).join(', '),
      },
    ];
  }

  summary(): Record<string, number> {
    return { ...this.history.counts, finalElements: [...this.finalRead.values()].reduce((n, e) => n + e.length, 0) };
  }
}
