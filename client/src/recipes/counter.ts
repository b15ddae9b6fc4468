/**
 * A distributed atomic counter (Curator's DistributedAtomicLong, kazoo's Counter): the value is
 * the node's data as a decimal string, changed by compare-and-set on the node's version in a loop.
 *
 * Exactly once, through connection loss: each change is a multi that also writes the operation's
 * id into this client's marker node (`<path>/op-<guid>`, ephemeral); when a change's outcome is
 * unknown, the session's writes are settled and the marker then tells whether it was applied, so
 * a change is never applied twice and a caller never gets a result that did not happen.
 *
 *   const hits = new DistributedCounter(client, '/counters/hits');
 *   const { after } = await hits.increment();
 */
import { BadVersionError, NodeExistsError, NoNodeError, type ConclaveError } from '@conclave/proto/errors';
import type { Conclave } from '../client.js';
import type { Op } from '../types.js';
import { isRetryable, joinPath, newGuid, retry, settle, sleep, validateDir } from './internal.js';

export class DistributedCounter {
  private readonly marker: string;
  private markerExists = false;
  private ops = 0;

  constructor(
    private readonly client: Conclave,
    readonly path: string,
  ) {
    validateDir(path, 'a counter path');
    this.marker = joinPath(path, `op-${newGuid()}`);
  }

  /** The current value (0 when the counter does not exist yet). */
  async get(): Promise<number> {
    try {
      return parse(this.path, (await retry(this.client, () => this.client.get(this.path))).data);
    } catch (error) {
      if (error instanceof NoNodeError) return 0;
      throw error;
    }
  }

  /** Adds `delta`; resolves with the values before and after. */
  async add(delta: number): Promise<{ before: number; after: number }> {
    if (!Number.isSafeInteger(delta)) throw new RangeError(`delta must be a safe integer, not ${delta}`);
    let result: { before: number; after: number } | undefined;
    await this.change((before) => {
      result = { before, after: checked(before + delta) };
      return result.after;
    });
    return result!;
  }

  increment(): Promise<{ before: number; after: number }> {
    return this.add(1);
  }

  decrement(): Promise<{ before: number; after: number }> {
    return this.add(-1);
  }

  /** Sets the value to `value` if it is `expected`; resolves with whether it did. */
  async compareAndSet(expected: number, value: number): Promise<boolean> {
    checked(value);
    return this.change((current) => (current === expected ? value : undefined));
  }

  /** Sets the value unconditionally. */
  async set(value: number): Promise<void> {
    checked(value);
    await this.change(() => value);
  }

  /**
   * The CAS loop: `next` maps the current value to the new one (undefined: give up). Resolves true
   * once a change was applied, false when `next` gave up.
   */
  private async change(next: (current: number) => number | undefined): Promise<boolean> {
    const opId = `${++this.ops}`;
    for (let n = 0; ; n++) {
      let current: number;
      let version: number;
      try {
        const { data, stat } = await retry(this.client, () => this.client.get(this.path));
        current = parse(this.path, data);
        version = stat.version;
      } catch (error) {
        if (!(error instanceof NoNodeError)) throw error;
        await this.createCounter();
        continue;
      }
      const value = next(current);
      if (value === undefined) return false;
      const mark: Op = this.markerExists
        ? { op: 'setData', path: this.marker, data: opId }
        : { op: 'create', path: this.marker, data: opId, kind: 'EPHEMERAL' };
      try {
        await this.client.multi([{ op: 'setData', path: this.path, data: String(value), version }, mark]);
        this.markerExists = true;
        return true;
      } catch (error) {
        const e = error as ConclaveError;
        if ((e instanceof BadVersionError || e instanceof NoNodeError) && e.opIndex === 0) continue;
        if (e instanceof NodeExistsError && e.opIndex === 1) {
          this.markerExists = true;
          continue;
        }
        if (e instanceof NoNodeError && e.opIndex === 1) {
          this.markerExists = false;
          continue;
        }
        if (!isRetryable(e)) throw error;
        await sleep(Math.min(1_000, 25 * 2 ** Math.min(n, 6)));
        await settle(this.client);
        if (await this.applied(opId)) return true;
      }
    }
  }

  /** Whether the change with `opId` was applied (read from the marker after an unknown outcome). */
  private async applied(opId: string): Promise<boolean> {
    try {
      const { data } = await retry(this.client, () => this.client.get(this.marker));
      this.markerExists = true;
      return data.toString() === opId;
    } catch (error) {
      if (!(error instanceof NoNodeError)) throw error;
      this.markerExists = false;
      return false;
    }
  }

  private async createCounter(): Promise<void> {
    const parent = this.path.slice(0, this.path.lastIndexOf('/')) || '/';
    await retry(this.client, () => this.client.mkdirp(parent));
    try {
      await retry(this.client, () => this.client.create(this.path, '0'));
    } catch (error) {
      if (!(error instanceof NodeExistsError)) throw error;
    }
  }
}

function parse(path: string, data: Buffer): number {
  const text = data.toString().trim();
  const value = text === '' ? 0 : Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`${path} does not hold an integer counter: ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

function checked(value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`counter value out of the safe integer range: ${value}`);
  return value;
}
