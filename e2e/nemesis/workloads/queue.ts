/**
 * A FIFO queue (ZooKeeper's queue recipe): enqueue creates a PERSISTENT_SEQUENTIAL child whose name
 * carries the value; dequeue lists the children (linearizable), and deletes the lowest sequence
 * number, moving on to the next if another consumer took it first. The delete that succeeds is the
 * dequeue; its value is the one named. Checked by Porcupine (model "queue"), and here: after the
 * queue is drained at the end, every acknowledged enqueue was dequeued exactly once.
 */
import type { Conclave } from '@conclave/client';
import { History, codeOf } from '../history.js';
import type { Random } from '../random.js';
import type { CheckedHistory, Finding, RunContext, Workload } from '../workload.js';
import { ignoreExists } from './register.js';

export interface QueueInput {
  op: 'enqueue' | 'dequeue';
  value?: string;
  /** for a dequeue whose delete had an unknown outcome: the value it tried to take */
  target?: string;
}

export interface QueueOutput {
  value?: string;
  /** the item's sequence number (its place in the queue) */
  seq?: number;
  empty?: boolean;
}

const ROOT = '/nem/queue';

/** q-<value>-<10-digit sequence> -> [value, sequence] */
function parse(name: string): [string, number] {
  const dash = name.lastIndexOf('-');
  return [name.slice(2, dash), Number(name.slice(dash + 1))];
}

export class QueueWorkload implements Workload {
  readonly name = 'queue';
  readonly history = new History<QueueInput, QueueOutput>('queue');
  private drained = false;

  constructor(
    private readonly workers: number,
    private readonly random: Random,
  ) {}

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: this.workers }, (_, w) => {
        const random = this.random.fork();
        return ctx.worker(`queue-${w}`, this.history, random, async (client, process) => {
          if (random.chance(0.5)) {
            const value = `v${next++}`;
            const path = `${ROOT}/q-${value}-`;
            const op = this.history.invoke(process, 'enqueue', { op: 'enqueue', value }, { sessionId: client.sessionId, op: 'create', path });
            try {
              const created = await client.createWithStat(path, '', { kind: 'PERSISTENT_SEQUENTIAL' });
              this.history.ok(op, { seq: parse(created.path.slice(ROOT.length + 1))[1] }, created.stat.czxid);
              return process;
            } catch (error) {
              return this.history.failOrInfo(op, error) === 'info' ? this.history.newProcess() : process;
            }
          }
          return (await this.dequeue(client, process)).process;
        });
      }),
    );
  }

  /** One dequeue: the value taken, 'empty', or undefined when it failed or its outcome is unknown. */
  private async dequeue(client: Conclave, process: number): Promise<{ process: number; result: string | 'empty' | undefined }> {
    const op = this.history.invoke(process, 'dequeue', { op: 'dequeue' });
    for (let round = 0; round < 10; round++) {
      let names: string[];
      try {
        names = await client.getChildren(ROOT, { linearizable: true });
      } catch (error) {
        this.history.fail(op, error);
        return { process, result: undefined };
      }
      if (names.length === 0) {
        this.history.ok(op, { empty: true });
        return { process, result: 'empty' };
      }
      const ordered = names.map(parse).sort((a, b) => a[1] - b[1]);
      for (const [value, seq] of ordered) {
        const path = `${ROOT}/q-${value}-${String(seq).padStart(10, '0')}`;
        op.txn = { sessionId: client.sessionId, op: 'delete', path };
        try {
          await client.delete(path);
          this.history.ok(op, { value, seq });
          return { process, result: value };
        } catch (error) {
          if (codeOf(error) === 'NO_NODE') continue; // another consumer took it
          op.input.target = value;
          const status = this.history.failOrInfo(op, error);
          return { process: status === 'info' ? this.history.newProcess() : process, result: undefined };
        }
      }
    }
    this.history.fail(op, new Error('every item listed was taken by others, 10 times'));
    return { process, result: undefined };
  }

  async finish(client: Conclave): Promise<void> {
    const process = this.history.newProcess();
    for (let i = 0; ; i++) {
      const { result } = await this.dequeue(client, process);
      if (result === 'empty') break;
      if (result === undefined) throw new Error('a dequeue failed while draining the healed cluster');
      if (i > 1_000_000) throw new Error('the queue does not drain');
    }
    this.drained = true;
  }

  /**
   * An enqueue whose outcome neither its client nor the replayed log knows is settled by the drain:
   * if some dequeue took its value, it was applied, and it took effect before that dequeue returned
   * (so that return time bounds it, with the sequence number the dequeue saw); if none did, none
   * with an unknown outcome aimed at it, and the queue was drained, it was never applied.
   */
  resolveFromObservations(): number {
    if (!this.drained) return 0;
    const takenBy = new Map<string, (typeof this.history.ops)[number]>();
    const maybeTaken = new Set<string | undefined>();
    for (const op of this.history.ops) {
      if (op.input.op !== 'dequeue') continue;
      if (op.status === 'ok' && op.output?.value !== undefined) takenBy.set(op.output.value, op);
      if (op.status === 'info') maybeTaken.add(op.input.target);
    }
    let settled = 0;
    for (const op of this.history.ops) {
      if (op.input.op !== 'enqueue' || op.status !== 'info') continue;
      const dequeue = takenBy.get(op.input.value!);
      if (dequeue !== undefined && dequeue.ret !== undefined && dequeue.ret > op.call) {
        op.status = 'ok';
        op.resolved = 'applied';
        op.output = { seq: dequeue.output!.seq };
        op.ret = dequeue.ret;
        settled++;
      } else if (dequeue === undefined && !maybeTaken.has(op.input.value)) {
        op.status = 'fail';
        op.resolved = 'absent';
        settled++;
      }
    }
    return settled;
  }

  checked(): CheckedHistory[] {
    return [{ model: 'queue', history: this.history }];
  }

  check(): Finding[] {
    const dequeued = new Map<string, number>();
    for (const op of this.history.ops) {
      if (op.input.op === 'dequeue' && op.status === 'ok' && op.output?.value !== undefined) {
        dequeued.set(op.output.value, (dequeued.get(op.output.value) ?? 0) + 1);
      }
    }
    // A dequeue with an unknown outcome may have taken its target.
    const maybeTaken = new Set(this.history.ops.filter((op) => op.input.op === 'dequeue' && op.status === 'info').map((op) => op.input.target));
    const enqueued = this.history.ops.filter((op) => op.input.op === 'enqueue');
    const lost = enqueued.filter((op) => op.status === 'ok' && !dequeued.has(op.input.value!) && !maybeTaken.has(op.input.value)).map((op) => op.input.value!);
    const twice = [...dequeued].filter(([, n]) => n > 1).map(([v]) => v);
    const attempted = new Set(enqueued.map((op) => op.input.value!));
    const phantom = [...dequeued.keys()].filter((v) => !attempted.has(v));
    return [
      {
        workload: this.name,
        check: 'every acknowledged enqueue dequeued, or maybe taken by a dequeue with an unknown outcome (queue drained at the end)',
        ok: this.drained && lost.length === 0,
        detail: lost.length === 0 ? `${enqueued.filter((op) => op.status === 'ok').length} acknowledged, all dequeued` : `${lost.length} lost: ${lost.slice(0, 20).join(', ')}`,
      },
      { workload: this.name, check: 'no value dequeued twice', ok: twice.length === 0, detail: twice.length === 0 ? 'none' : twice.slice(0, 20).join(', ') },
      { workload: this.name, check: 'no value dequeued that was never enqueued', ok: phantom.length === 0, detail: phantom.length === 0 ? 'none' : phantom.slice(0, 20).join(', ') },
    ];
  }

  summary(): Record<string, number> {
    return { ...this.history.counts };
  }
}
