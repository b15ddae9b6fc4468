/**
 * CAS registers: a few znodes whose data is a register. Operations: linearizable read (getData
 * with linearizable, or sync then getData), unconditional write (setData, version -1) and
 * compare-and-set (setData with the version of a previous read). Every written value is unique.
 *
 * Checked by Porcupine (model "register", one partition per key: value and version). Local reads
 * (sequentially consistent, not linearizable) are checked here instead: a client never sees a key's
 * version go backwards, its own writes included (read-your-writes across reconnects).
 */
import type { Conclave } from '@conclave/client';
import { History, codeOf } from '../history.js';
import type { Random } from '../random.js';
import type { CheckedHistory, Finding, RunContext, Workload } from '../workload.js';

export interface RegisterInput {
  key: string;
  op: 'read' | 'write' | 'cas';
  value?: string;
  /** for cas: the expected version */
  version?: number;
}

export interface RegisterOutput {
  value?: string;
  version?: number;
  /** for a failed cas: the server said BAD_VERSION */
  badVersion?: boolean;
}

const ROOT = '/nem/reg';

export class RegisterWorkload implements Workload {
  readonly name = 'register';
  readonly history = new History<RegisterInput, RegisterOutput>('register');
  /** versions each process saw per key, in order: [process, key, version] */
  private readonly seen: { process: number; key: string; version: number; how: string }[] = [];
  private readonly keys: string[];

  constructor(
    keys: number,
    private readonly workers: number,
    private readonly random: Random,
  ) {
    this.keys = Array.from({ length: keys }, (_, i) => `k${i}`);
  }

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
    for (const key of this.keys) await client.create(`${ROOT}/${key}`, '0').catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    let unique = 0;
    await Promise.all(
      Array.from({ length: this.workers }, (_, w) => {
        const random = this.random.fork();
        return ctx.worker(`register-${w}`, this.history, random, async (client, process) => {
          const key = random.pick(this.keys);
          const kind = random.weighted([[3, 'read'], [1, 'local'], [2, 'write'], [3, 'cas']] as const);
          const value = `${w}-${unique++}`;
          return this.step(client, process, key, kind, value, random);
        });
      }),
    );
  }

  private async step(client: Conclave, process: number, key: string, kind: 'read' | 'local' | 'write' | 'cas', value: string, random: Random): Promise<number> {
    const path = `${ROOT}/${key}`;
    const h = this.history;
    switch (kind) {
      case 'read': {
        const op = h.invoke(process, 'read', { key, op: 'read' });
        try {
          let r;
          if (random.chance(0.5)) {
            r = await client.get(path, { linearizable: true });
          } else {
            await client.sync(path);
            r = await client.get(path);
          }
          h.ok(op, { value: r.data.toString(), version: r.stat.version });
          this.seen.push({ process, key, version: r.stat.version, how: 'read' });
        } catch (error) {
          h.fail(op, error); // a failed read has no effect
        }
        return process;
      }
      case 'local': {
        // Not linearizable (served from the member's own state): only checked for monotonicity.
        const r = await client.get(path).catch(() => undefined);
        if (r) this.seen.push({ process, key, version: r.stat.version, how: 'local read' });
        return process;
      }
      case 'write': {
        const op = h.invoke(process, 'write', { key, op: 'write', value }, { sessionId: client.sessionId, op: 'setData', path, data: value, version: -1 });
        try {
          const stat = await client.set(path, value);
          h.ok(op, { version: stat.version }, stat.mzxid);
          this.seen.push({ process, key, version: stat.version, how: 'write' });
          return process;
        } catch (error) {
          return h.failOrInfo(op, error) === 'info' ? h.newProcess() : process;
        }
      }
      case 'cas': {
        const current = await client.get(path).catch(() => undefined);
        if (current === undefined) return process;
        this.seen.push({ process, key, version: current.stat.version, how: 'local read' });
        const expected = current.stat.version;
        const op = h.invoke(process, 'cas', { key, op: 'cas', value, version: expected }, { sessionId: client.sessionId, op: 'setData', path, data: value, version: expected });
        try {
          const stat = await client.set(path, value, { version: expected });
          h.ok(op, { version: stat.version }, stat.mzxid);
          this.seen.push({ process, key, version: stat.version, how: 'cas' });
          return process;
        } catch (error) {
          if (codeOf(error) === 'BAD_VERSION') {
            h.fail(op, error, { badVersion: true });
            return process;
          }
          return h.failOrInfo(op, error) === 'info' ? h.newProcess() : process;
        }
      }
    }
  }

  async finish(client: Conclave): Promise<void> {
    const process = this.history.newProcess();
    for (const key of this.keys) {
      const op = this.history.invoke(process, 'read', { key, op: 'read' });
      const r = await client.get(`${ROOT}/${key}`, { linearizable: true });
      this.history.ok(op, { value: r.data.toString(), version: r.stat.version });
    }
  }

  checked(): CheckedHistory[] {
    return [{ model: 'register', history: this.history }];
  }

  check(): Finding[] {
    // Per process and key, versions never go backwards (a session's view only moves forward).
    const last = new Map<string, { version: number; how: string }>();
    const regressions: string[] = [];
    for (const s of this.seen) {
      const id = `${s.process}/${s.key}`;
      const previous = last.get(id);
      if (previous && s.version < previous.version) {
        regressions.push(`process ${s.process} key ${s.key}: ${s.how} saw version ${s.version} after ${previous.how} saw ${previous.version}`);
      }
      if (!previous || s.version >= previous.version) last.set(id, { version: s.version, how: s.how });
    }
    return [
      {
        workload: this.name,
        check: 'versions seen by each client never go backwards (local reads included)',
        ok: regressions.length === 0,
        detail: regressions.length === 0 ? `${this.seen.length} observations` : regressions.slice(0, 10).join('; '),
      },
    ];
  }

  summary(): Record<string, number> {
    return { ...this.history.counts, observations: this.seen.length };
  }
}

export function ignoreExists(error: unknown): void {
  if (codeOf(error) !== 'NODE_EXISTS') throw error;
}
