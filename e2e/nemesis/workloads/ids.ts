/**
 * Unique ids from sequential nodes: each id is the sequence suffix of a PERSISTENT_SEQUENTIAL
 * create. Checked here: acknowledged ids are unique; they respect real time (an id handed out after
 * another was acknowledged is larger: sequence numbers come from the log order, which is
 * linearizable); and every acknowledged id's node is still there at the end (nothing lost).
 */
import type { Conclave } from '@conclave/client';
import { History } from '../history.js';
import type { Random } from '../random.js';
import type { CheckedHistory, Finding, RunContext, Workload } from '../workload.js';
import { ignoreExists } from './register.js';

const ROOT = '/nem/ids';

export class IdsWorkload implements Workload {
  readonly name = 'ids';
  readonly history = new History<{ tag: string }, { id: number }>('ids');
  private finalIds: Set<number> | undefined;

  constructor(
    private readonly workers: number,
    private readonly random: Random,
  ) {}

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    let n = 0;
    await Promise.all(
      Array.from({ length: this.workers }, (_, w) => {
        const random = this.random.fork();
        return ctx.worker(`ids-${w}`, this.history, random, async (client, process) => {
          const tag = `${w}-${n++}`;
          const op = this.history.invoke(process, 'generate', { tag });
          try {
            const path = await client.create(`${ROOT}/id-`, tag, { kind: 'PERSISTENT_SEQUENTIAL' });
            this.history.ok(op, { id: Number(path.slice(path.lastIndexOf('-') + 1)) });
            return process;
          } catch (error) {
            return this.history.failOrInfo(op, error) === 'info' ? this.history.newProcess() : process;
          }
        });
      }),
    );
  }

  async finish(client: Conclave): Promise<void> {
    await client.sync(ROOT);
    const names = await client.getChildren(ROOT);
    this.finalIds = new Set(names.map((name) => Number(name.slice(name.lastIndexOf('-') + 1))));
  }

  checked(): CheckedHistory[] {
    return [];
  }

  check(): Finding[] {
    const acked = this.history.ops.filter((op) => op.status === 'ok');
    const seen = new Map<number, string>();
    const duplicates: string[] = [];
    for (const op of acked) {
      const id = op.output!.id;
      if (seen.has(id)) duplicates.push(`${id} (${seen.get(id)} and ${op.input.tag})`);
      seen.set(id, op.input.tag);
    }
    // Real-time order: walk operations by invocation; every acknowledged op that completed before
    // this one was invoked must have a smaller id.
    const byReturn = [...acked].sort((a, b) => a.ret! - b.ret!);
    const byCall = [...acked].sort((a, b) => a.call - b.call);
    const outOfOrder: string[] = [];
    let maxBefore = -1;
    let maxTag = '';
    let r = 0;
    for (const op of byCall) {
      while (r < byReturn.length && byReturn[r]!.ret! < op.call) {
        if (byReturn[r]!.output!.id > maxBefore) {
          maxBefore = byReturn[r]!.output!.id;
          maxTag = byReturn[r]!.input.tag;
        }
        r++;
      }
      if (op.output!.id <= maxBefore) outOfOrder.push(`${op.input.tag} got ${op.output!.id} after ${maxTag} had ${maxBefore}`);
    }
    const lost = acked.filter((op) => !this.finalIds?.has(op.output!.id)).map((op) => `${op.output!.id}`);
    return [
      { workload: this.name, check: 'acknowledged ids are unique', ok: duplicates.length === 0, detail: duplicates.length === 0 ? `${acked.length} ids` : duplicates.slice(0, 20).join(', ') },
      { workload: this.name, check: 'ids respect real-time order', ok: outOfOrder.length === 0, detail: outOfOrder.length === 0 ? 'yes' : outOfOrder.slice(0, 10).join('; ') },
      { workload: this.name, check: 'every acknowledged id still exists at the end', ok: this.finalIds !== undefined && lost.length === 0, detail: lost.length === 0 ? `${this.finalIds?.size} nodes at the end` : `${lost.length} lost: ${lost.slice(0, 20).join(', ')}` },
    ];
  }

  summary(): Record<string, number> {
    return { ...this.history.counts };
  }
}
