/**
 * A fenced lock (ZooKeeper's lock recipe): a contender creates an EPHEMERAL_SEQUENTIAL node under
 * /nem/lock and holds the lock once its node has the lowest sequence number, waiting on its
 * predecessor with a one-shot exists watch. Its fencing token is its lock node's czxid. While it
 * holds the lock it writes a shared resource with multi([check(its lock node), setData(resource at
 * the version it read)]), so a holder whose session expired (a zombie) cannot write any more.
 *
 * Checked here:
 * - fencing: in the order the resource's versions were written, tokens never decrease;
 * - mutual exclusion: no contender acquires the lock before every holder with a lower token has
 *   started releasing it, unless that holder lost its session (then only fencing protects);
 * - the resource changes only by fenced writes: its final version lies between the acknowledged
 *   fenced writes and those plus the ones with an unknown outcome.
 */
import type { Conclave } from '@conclave/client';
import { codeOf, now } from '../history.js';
import type { Random } from '../random.js';
import { sleep, type CheckedHistory, type Finding, type RunContext, type Workload } from '../workload.js';
import { ignoreExists } from './register.js';

const LOCKS = '/nem/lock';
const RESOURCE = '/nem/lock-resource';

interface Hold {
  worker: number;
  session: number;
  token: number;
  path: string;
  /** µs */
  acquiredAt: number;
  releaseCalledAt: number | undefined;
  /** the session expired or the lock node vanished while held */
  lost: boolean;
}

interface FencedWrite {
  token: number;
  /** the resource version this write produced */
  version: number;
}

export class LockWorkload implements Workload {
  readonly name = 'lock';
  private readonly holds: Hold[] = [];
  private readonly writes: FencedWrite[] = [];
  private zombieWritesRefused = 0;
  private staleReads = 0;
  private unknownWrites = 0;
  private finalVersion: number | undefined;
  private abandoned = 0;

  constructor(
    private readonly contenders: number,
    private readonly random: Random,
  ) {}

  async setup(client: Conclave): Promise<void> {
    await client.create(LOCKS).catch(ignoreExists);
    await client.create(RESOURCE, JSON.stringify({ token: 0 })).catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    await Promise.all(Array.from({ length: this.contenders }, (_, w) => this.contender(ctx, w, this.random.fork())));
  }

  private async contender(ctx: RunContext, w: number, random: Random): Promise<void> {
    let client: Conclave | undefined;
    for (let round = 0; !ctx.stopped; round++) {
      try {
        client ??= await ctx.connect(`lock-${w}`, { sessionTimeoutMs: 6_000 });
      } catch {
        return;
      }
      const keep = await this.round(client, w, random).catch(() => false);
      if (!keep || client.state === 'expired' || client.state === 'closed') {
        // After an unknown outcome on the lock node, closing the session is the only sure way to drop it.
        this.abandoned++;
        await ctx.release(client);
        client = undefined;
      }
      await sleep(random.int(10, 200));
    }
    if (client) await ctx.release(client);
  }

  /** One acquire-write-release round; false when the session should be dropped. */
  private async round(client: Conclave, w: number, random: Random): Promise<boolean> {
    let created: { path: string; stat: { czxid: number } };
    try {
      created = await client.createWithStat(`${LOCKS}/lock-`, String(w), { kind: 'EPHEMERAL_SEQUENTIAL' });
    } catch {
      return false;
    }
    const me = created.path.slice(LOCKS.length + 1);
    const token = created.stat.czxid;
    const deadline = Date.now() + 20_000;
    // Wait until no lower sequence number is left.
    for (;;) {
      if (expired(client) || Date.now() > deadline) return false;
      const children = (await client.getChildren(LOCKS)).sort((a, b) => seq(a) - seq(b));
      const index = children.indexOf(me);
      if (index < 0) return false; // our node vanished: the session expired
      if (index === 0) break;
      const predecessor = `${LOCKS}/${children[index - 1]}`;
      let fired: () => void = () => undefined;
      const event = new Promise<void>((resolve) => (fired = resolve));
      const stat = await client.exists(predecessor, { watch: () => fired() });
      if (stat !== null) await Promise.race([event, sleep(2_000)]);
    }
    const hold: Hold = { worker: w, session: client.sessionId, token, path: `${LOCKS}/${me}`, acquiredAt: now(), releaseCalledAt: undefined, lost: false };
    this.holds.push(hold);
    for (let i = random.int(1, 3); i > 0 && !hold.lost; i--) {
      await this.fencedWrite(client, hold);
      await sleep(random.int(5, 60));
    }
    hold.releaseCalledAt = now();
    try {
      await client.delete(hold.path);
      return true;
    } catch (error) {
      if (codeOf(error) === 'NO_NODE' || codeOf(error) === 'SESSION_EXPIRED' || expired(client)) hold.lost = true;
      return false;
    }
  }

  private async fencedWrite(client: Conclave, hold: Hold): Promise<void> {
    let current;
    try {
      current = await client.get(RESOURCE);
    } catch {
      return;
    }
    try {
      const results = await client.multi([
        { op: 'check', path: hold.path, version: 0 },
        { op: 'setData', path: RESOURCE, data: JSON.stringify({ token: hold.token, worker: hold.worker }), version: current.stat.version },
      ]);
      const stat = (results[1] as { stat: { version: number } }).stat;
      this.writes.push({ token: hold.token, version: stat.version });
    } catch (error) {
      const code = codeOf(error);
      if (code === 'NO_NODE') {
        // Our lock node is gone: the session expired and someone else may hold the lock.
        hold.lost = true;
        this.zombieWritesRefused++;
      } else if (code === 'SESSION_EXPIRED' || expired(client)) {
        hold.lost = true;
      } else if (code === 'BAD_VERSION') {
        // Our read of the resource was stale (the previous holder's last write had not reached our member).
        this.staleReads++;
      } else {
        this.unknownWrites++;
      }
    }
  }

  async finish(client: Conclave): Promise<void> {
    this.finalVersion = (await client.get(RESOURCE, { linearizable: true })).stat.version;
  }

  checked(): CheckedHistory[] {
    return [];
  }

  check(): Finding[] {
    const byVersion = [...this.writes].sort((a, b) => a.version - b.version);
    const fencing: string[] = [];
    for (let i = 1; i < byVersion.length; i++) {
      if (byVersion[i]!.version === byVersion[i - 1]!.version) fencing.push(`two acknowledged writes produced version ${byVersion[i]!.version}`);
      if (byVersion[i]!.token < byVersion[i - 1]!.token) {
        fencing.push(`version ${byVersion[i]!.version} written with token ${byVersion[i]!.token} after version ${byVersion[i - 1]!.version} with token ${byVersion[i - 1]!.token}`);
      }
    }
    const exclusion: string[] = [];
    const byToken = [...this.holds].sort((a, b) => a.token - b.token);
    let latestRelease = -Infinity;
    let latestHolder: Hold | undefined;
    for (const hold of byToken) {
      if (latestHolder && hold.acquiredAt < latestRelease) {
        exclusion.push(
          `token ${hold.token} (worker ${hold.worker}) acquired ${Math.round((latestRelease - hold.acquiredAt) / 1000)} ms before token ${latestHolder.token} (worker ${latestHolder.worker}) started releasing`,
        );
      }
      const end = hold.lost ? hold.acquiredAt : (hold.releaseCalledAt ?? Infinity);
      if (end > latestRelease) {
        latestRelease = end;
        latestHolder = hold;
      }
    }
    const tokens = new Set(this.holds.map((h) => h.token));
    return [
      { workload: this.name, check: 'fencing tokens never decrease in resource version order', ok: fencing.length === 0, detail: fencing.length === 0 ? `${this.writes.length} fenced writes` : fencing.slice(0, 10).join('; ') },
      {
        workload: this.name,
        check: 'no two holders at once (except after a lost session)',
        ok: exclusion.length === 0 && tokens.size === this.holds.length,
        detail: exclusion.length === 0 ? `${this.holds.length} holds, ${this.holds.filter((h) => h.lost).length} lost sessions` : exclusion.slice(0, 10).join('; '),
      },
      {
        workload: this.name,
        check: 'the resource changed only by fenced writes (acknowledged <= version <= acknowledged + unknown)',
        ok: this.finalVersion !== undefined && this.finalVersion >= this.writes.length && this.finalVersion <= this.writes.length + this.unknownWrites,
        detail: `final version ${this.finalVersion}, ${this.writes.length} acknowledged, ${this.unknownWrites} unknown, ${this.zombieWritesRefused} zombie writes refused`,
      },
    ];
  }

  summary(): Record<string, number> {
    return { holds: this.holds.length, fencedWrites: this.writes.length, unknownWrites: this.unknownWrites, staleReads: this.staleReads, lostHolds: this.holds.filter((h) => h.lost).length, zombieWritesRefused: this.zombieWritesRefused, abandonedSessions: this.abandoned };
  }
}

function seq(name: string): number {
  return Number(name.slice(name.lastIndexOf('-') + 1));
}

/** (A function, so that TypeScript does not narrow the state across awaits.) */
function expired(client: Conclave): boolean {
  return client.state === 'expired';
}
