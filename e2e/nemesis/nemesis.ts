/**
 * The nemesis: injects one fault at a time into a NemesisCluster on a random schedule drawn from a
 * seeded Random, holds it, heals it, waits, and starts over, logging every step.
 *
 * Replaying a seed gives the same sequence of fault kinds, durations, gaps and random choices (which
 * member, which split); what "the leader" is at a given moment still depends on the run.
 */
import { unaryStubs } from '../harness/raw.js';
import type { NemesisCluster } from './cluster.js';
import type { Random } from './random.js';

export type FaultKind =
  | 'kill-leader'
  | 'kill-follower'
  | 'kill-all'
  | 'pause-leader'
  | 'pause-member'
  | 'partition-halves'
  | 'isolate-leader'
  | 'one-way'
  | 'bridge'
  | 'slow-links'
  | 'stutter'
  | 'transfer-leader'
  | 'replace-member';

export const ALL_FAULTS: readonly FaultKind[] = [
  'kill-leader',
  'kill-follower',
  'kill-all',
  'pause-leader',
  'pause-member',
  'partition-halves',
  'isolate-leader',
  'one-way',
  'bridge',
  'slow-links',
  'stutter',
  'transfer-leader',
  'replace-member',
];

/** How often each kind is drawn (relative). */
const WEIGHTS: Record<FaultKind, number> = {
  'kill-leader': 3,
  'kill-follower': 2,
  'kill-all': 1,
  'pause-leader': 2,
  'pause-member': 1,
  'partition-halves': 2,
  'isolate-leader': 2,
  'one-way': 2,
  bridge: 1,
  'slow-links': 1,
  stutter: 1,
  'transfer-leader': 1,
  'replace-member': 1,
};

export interface NemesisOptions {
  faults?: readonly FaultKind[];
  /** how long a fault is held, ms */
  holdMs?: [number, number];
  /** quiet time between faults, ms */
  gapMs?: [number, number];
}

export interface FaultRecord {
  kind: FaultKind;
  detail: string;
  /** ms since the nemesis started */
  at: number;
  heldMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  readonly log: string[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private started = 0;
  private stopSleep: (() => void) | undefined;
  /** for choices whose number depends on the run (which held connections survive a heal) */
  private readonly healRandom: Random;

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly random: Random,
    private readonly options: NemesisOptions = {},
  ) {
    this.healRandom = random.fork();
  }

  start(): void {
    this.running = true;
    this.started = Date.now();
    this.loop = this.run();
  }

  /** Stops after the current fault is healed. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopSleep?.();
    await this.loop;
  }

  private note(line: string): void {
    const entry = `t=${((Date.now() - this.started) / 1000).toFixed(1)}s ${line}`;
    this.log.push(entry);
    if (process.env.NEMESIS_VERBOSE) console.log(`      nemesis ${entry}`);
  }

  /** Sleeps, but wakes early when stopped. */
  private async wait(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.stopSleep = undefined;
  }

  private async run(): Promise<void> {
    const kinds = this.options.faults ?? ALL_FAULTS;
    const [holdMin, holdMax] = this.options.holdMs ?? [1_000, 5_000];
    const [gapMin, gapMax] = this.options.gapMs ?? [500, 2_500];
    while (this.running) {
      await this.wait(this.random.int(gapMin, gapMax));
      if (!this.running) break;
      const kind = this.random.weighted(kinds.map((k) => [WEIGHTS[k], k] as const));
      const hold = this.random.int(holdMin, holdMax);
      // Every choice is drawn before acting, so that the sequence of draws does not depend on the run.
      const picks = { a: this.random.next(), b: this.random.next(), c: this.random.next(), resume: this.random.next() };
      const at = Date.now() - this.started;
      try {
        const detail = await this.inject(kind, hold, picks);
        this.faults.push({ kind, detail, at, heldMs: hold });
      } catch (error) {
        this.note(`${kind} failed: ${(error as Error).message}`);
        await this.cluster.healAll().catch((e: Error) => this.note(`heal failed: ${e.message}`));
      }
    }
  }

  /** Applies one fault, holds it, heals it; returns what was done. */
  private async inject(kind: FaultKind, hold: number, picks: { a: number; b: number; c: number; resume: number }): Promise<string> {
    const cluster = this.cluster;
    const members = [...cluster.current];
    const pickFrom = <T>(items: T[], r: number): T => items[Math.floor(r * items.length)]!;
    const leader = await cluster.leaderNow();
    const followers = members.filter((id) => id !== leader);
    const heldConnectionsResume = () => this.healRandom.chance(0.5);
    let detail = '';
    switch (kind) {
      case 'kill-leader':
      case 'kill-follower': {
        const victim = kind === 'kill-leader' && leader !== undefined ? leader : pickFrom(followers, picks.a);
        detail = `kill -9 member ${victim}${victim === leader ? ' (leader)' : ''}`;
        this.note(`${kind}: ${detail}, restart after ${hold} ms`);
        await cluster.kill(victim);
        await sleep(hold);
        await cluster.restart(victim);
        break;
      }
      case 'kill-all': {
        detail = `kill -9 all of ${members.join(',')}`;
        this.note(`${kind}: ${detail}, restart after ${hold} ms`);
        await Promise.all(members.map((id) => cluster.kill(id)));
        await sleep(hold);
        for (const id of members) await cluster.restart(id);
        break;
      }
      case 'pause-leader':
      case 'pause-member': {
        const victim = kind === 'pause-leader' && leader !== undefined ? leader : pickFrom(members, picks.a);
        detail = `SIGSTOP member ${victim}${victim === leader ? ' (leader)' : ''}`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        cluster.pause(victim);
        await sleep(hold);
        cluster.resume(victim);
        break;
      }
      case 'partition-halves': {
        const shuffled = shuffle(members, picks.a);
        const minority = shuffled.slice(0, Math.floor(members.length / 2));
        const majority = shuffled.slice(minority.length);
        const mode = picks.b < 0.7 ? ({ kind: 'blackhole' } as const) : ({ kind: 'reject' } as const);
        detail = `partition [${minority.join(',')}] | [${majority.join(',')}] (${mode.kind})`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        cluster.partition([minority, majority], mode);
        await sleep(hold);
        cluster.healNetwork(heldConnectionsResume);
        break;
      }
      case 'isolate-leader': {
        const victim = leader ?? pickFrom(members, picks.a);
        detail = `isolate member ${victim}${victim === leader ? ' (leader)' : ''}`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        cluster.partition([[victim], members.filter((id) => id !== victim)]);
        await sleep(hold);
        cluster.healNetwork(heldConnectionsResume);
        break;
      }
      case 'one-way': {
        // The leader (or a random member) cannot send to some others, but hears them.
        const from = leader !== undefined && picks.c < 0.6 ? leader : pickFrom(members, picks.a);
        const others = members.filter((id) => id !== from);
        const targets = shuffle(others, picks.b).slice(0, Math.max(1, Math.floor(others.length / 2) + (picks.c < 0.5 ? 0 : 1)));
        detail = `one-way: ${from} -/-> ${targets.join(',')}`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        for (const to of targets) cluster.block(from, to);
        await sleep(hold);
        cluster.healNetwork(heldConnectionsResume);
        break;
      }
      case 'bridge': {
        // Two halves that cannot talk, and one member that talks to both.
        const shuffled = shuffle(members, picks.a);
        const bridge = shuffled[0]!;
        const rest = shuffled.slice(1);
        const left = rest.slice(0, Math.floor(rest.length / 2));
        const right = rest.slice(left.length);
        detail = `bridge ${bridge} between [${left.join(',')}] and [${right.join(',')}]`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        cluster.partition([left, right]);
        await sleep(hold);
        cluster.healNetwork(heldConnectionsResume);
        break;
      }
      case 'slow-links': {
        const delayMs = 20 + Math.floor(picks.a * 280);
        const victim = pickFrom(members, picks.b);
        detail = `links to and from member ${victim} delayed ${delayMs} ms`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        for (const other of members) {
          if (other === victim) continue;
          cluster.setLink(victim, other, { kind: 'delay', delayMs });
          cluster.setLink(other, victim, { kind: 'delay', delayMs });
        }
        await sleep(hold);
        cluster.healNetwork();
        break;
      }
      case 'stutter': {
        // A member that keeps stalling, as one with a slow disk or a starved CPU would: SIGSTOP bursts.
        const victim = picks.c < 0.5 && leader !== undefined ? leader : pickFrom(members, picks.a);
        const stopMs = 20 + Math.floor(picks.b * 180);
        detail = `stutter member ${victim}${victim === leader ? ' (leader)' : ''}: stopped ${stopMs} ms of every ${stopMs * 2} ms`;
        this.note(`${kind}: ${detail} for ${hold} ms`);
        const end = Date.now() + hold;
        while (Date.now() < end) {
          cluster.pause(victim);
          await sleep(stopMs);
          cluster.resume(victim);
          await sleep(stopMs);
        }
        break;
      }
      case 'transfer-leader': {
        const to = pickFrom(followers.length > 0 ? followers : members, picks.a);
        detail = `transfer leadership ${leader ?? '?'} -> ${to}`;
        this.note(`${kind}: ${detail}`);
        await this.transfer(to).catch((e: Error) => this.note(`transfer failed (fine under faults): ${e.message}`));
        break;
      }
      case 'replace-member': {
        await cluster.healAll();
        const victim = pickFrom(members, picks.a);
        this.note(`${kind}: replacing member ${victim}`);
        const newId = await cluster.replace(victim, (line) => this.note(`  ${line}`));
        detail = `replaced member ${victim} with member ${newId}`;
        break;
      }
    }
    this.note(`healed ${kind}`);
    return detail;
  }

  private async transfer(to: number): Promise<void> {
    const leader = await this.cluster.leader(5_000);
    const stubs = unaryStubs(this.cluster.endpoints([leader]));
    try {
      await stubs.cluster.transferLeadership({ to });
    } finally {
      stubs.close();
    }
  }

  /** Fault kinds and how many of each, for the report. */
  summary(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const f of this.faults) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
    return counts;
  }
}

/** A deterministic shuffle driven by one random number (so that draws stay fixed per fault). */
function shuffle<T>(items: T[], r: number): T[] {
  const out = [...items];
  let x = Math.floor(r * 2 ** 31) || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 48271) % 0x7fffffff) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
