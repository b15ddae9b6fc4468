/**
 * What every workload shares: how its clients connect (each with a zxid probe), the loop a worker
 * runs until the run stops (replacing an expired session by a new client process), and the shape
 * of its results.
 */
import { Conclave } from '@conclave/client';
import type { History } from './history.js';
import { probeZxids, type ZxidProbe } from './probe.js';
import type { Random } from './random.js';

/** One check's verdict. */
export interface Finding {
  workload: string;
  check: string;
  ok: boolean;
  detail: string;
}

/** A history to check with Porcupine, under one of the checker's models. */
export interface CheckedHistory {
  model: 'register' | 'set' | 'counter' | 'queue' | 'bank';
  history: History;
}

export interface Workload {
  readonly name: string;
  /** creates its nodes (on a healthy cluster) */
  setup(client: Conclave): Promise<void>;
  /** runs workers until ctx.stopped */
  run(ctx: RunContext): Promise<void>;
  /** after healing: final reads, recorded in the histories */
  finish(client: Conclave): Promise<void>;
  /** histories for the linearizability checker */
  checked(): CheckedHistory[];
  /** the workload's own invariants (lost writes, uniqueness, ...) */
  check(): Finding[];
  /** numbers for the report */
  summary(): Record<string, number>;
  /**
   * After the log's resolution (resolve.ts): settles unknown outcomes the log could not (they fell
   * before the snapshot the replay started from) from what the workload itself observed at the end;
   * returns how many it settled.
   */
  resolveFromObservations?(): number;
}

export interface ClientOptions {
  sessionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RunContext {
  private stopRequested = false;
  readonly probes: ZxidProbe[] = [];
  private readonly clients = new Set<Conclave>();
  private readonly probeByClient = new WeakMap<Conclave, ZxidProbe>();

  constructor(
    readonly endpoints: () => string,
    readonly random: Random,
  ) {}

  get stopped(): boolean {
    return this.stopRequested;
  }

  stop(): void {
    this.stopRequested = true;
  }

  /** A new session with a zxid probe; retries until it connects (throws once the run is stopped). */
  async connect(label: string, options: ClientOptions = {}): Promise<Conclave> {
    for (;;) {
      try {
        const client = await Conclave.connect({
          endpoints: this.endpoints(),
          sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
          connectTimeoutMs: 2_000,
          requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
        });
        const probe = probeZxids(client, label);
        this.probes.push(probe);
        this.probeByClient.set(client, probe);
        this.clients.add(client);
        return client;
      } catch (error) {
        if (this.stopRequested) throw error;
        await sleep(200);
      }
    }
  }

  /** The zxid probe of a client made by connect(). */
  probeOf(client: Conclave): ZxidProbe {
    const probe = this.probeByClient.get(client);
    if (!probe) throw new Error('not a client of this run');
    return probe;
  }

  /** Closes a client (its session's ephemerals go); failures are fine, the session then expires. */
  async release(client: Conclave): Promise<void> {
    this.clients.delete(client);
    await client.close().catch(() => undefined);
  }

  /** Closes every client still open. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.clients].map((c) => this.release(c)));
  }

  /**
   * Runs `step` until the run stops, with a fresh client (and a new history process) when the
   * session expires. `step` gets the current client and process and returns the process to use
   * next (a new one after an operation with an unknown outcome, as in Jepsen).
   */
  async worker(
    label: string,
    history: Pick<History, 'newProcess'>,
    random: Random,
    step: (client: Conclave, process: number) => Promise<number>,
    options: ClientOptions & { pauseMs?: [number, number] } = {},
  ): Promise<void> {
    const [pauseMin, pauseMax] = options.pauseMs ?? [2, 25];
    let client: Conclave | undefined;
    let process = history.newProcess();
    while (!this.stopped) {
      try {
        client ??= await this.connect(label, options);
      } catch {
        return;
      }
      try {
        process = await step(client, process);
      } catch {
        // An error the step did not record (a read between operations): go on.
      }
      if (client.state === 'expired' || client.state === 'closed') {
        await this.release(client);
        client = undefined;
        process = history.newProcess();
      }
      await sleep(random.int(pauseMin, pauseMax));
    }
    if (client) await this.release(client);
  }
}

export { sleep };
