/**
 * Ephemeral nodes and session ownership.
 *
 * Owners: clients with short session timeouts create ephemeral nodes, check them with linearizable
 * reads, delete some, close their session at the end of a round and start a new one. Crashers: raw
 * sessions that create an ephemeral node and vanish without closing (the member sees the stream
 * cancelled; the session must expire). Observers list every ephemeral node with its owner.
 *
 * Checked here:
 * - ownership: an ephemeral node's ephemeralOwner is the session that created it;
 * - no premature loss: while a session lives (its client never saw it expire), its ephemeral nodes
 *   stay until it deletes them;
 * - no ghosts: an observer read that started after a session's close was acknowledged, or after its
 *   client saw it expire, never shows that session's nodes;
 * - expiry: after healing, every node of a closed, expired or crashed session is gone within the
 *   session timeout plus a generous bound.
 */
import type { Conclave } from '@conclave/client';
import { rawSession } from '../../harness/raw.js';
import { now } from '../history.js';
import type { Random } from '../random.js';
import { sleep, type CheckedHistory, type Finding, type RunContext, type Workload } from '../workload.js';
import { ignoreExists } from './register.js';

const ROOT = '/nem/eph';
const SESSION_TIMEOUT_MS = 4_000;

interface SessionLife {
  id: number;
  /** µs: when the client learned the session ended (close acknowledged or expiry seen) */
  endedAt: number | undefined;
  crashed: boolean;
}

export class EphemeralWorkload implements Workload {
  readonly name = 'ephemeral';
  private readonly sessions = new Map<number, SessionLife>();
  private readonly violations: { check: string; detail: string }[] = [];
  private created = 0;
  private checks = 0;
  private observations = 0;
  private crashes = 0;
  private expiries = 0;
  private leftovers: string[] | undefined;

  constructor(
    private readonly owners: number,
    private readonly random: Random,
  ) {}

  async setup(client: Conclave): Promise<void> {
    await client.create(ROOT).catch(ignoreExists);
  }

  async run(ctx: RunContext): Promise<void> {
    await Promise.all([
      ...Array.from({ length: this.owners }, (_, w) => this.owner(ctx, w, this.random.fork())),
      this.crasher(ctx, this.random.fork()),
      this.observer(ctx, this.random.fork()),
    ]);
  }

  private violation(check: string, detail: string): void {
    this.violations.push({ check, detail });
  }

  /** Rounds of: open a session, own a few nodes for a while, checking them, then close. */
  private async owner(ctx: RunContext, w: number, random: Random): Promise<void> {
    for (let round = 0; !ctx.stopped; round++) {
      let client: Conclave;
      try {
        client = await ctx.connect(`ephemeral-${w}`, { sessionTimeoutMs: SESSION_TIMEOUT_MS });
      } catch {
        return;
      }
      const life: SessionLife = { id: client.sessionId, endedAt: undefined, crashed: false };
      this.sessions.set(life.id, life);
      let closing = false;
      client.onState((state) => {
        if (state === 'expired' && !closing) {
          life.endedAt ??= now();
          this.expiries++;
        }
      });
      /** nodes this session owns for sure (created and acknowledged, not deleted) */
      const owned = new Set<string>();
      /** nodes found missing by the owner's own linearizable read */
      const missing: string[] = [];
      const end = Date.now() + random.int(2_000, 8_000);
      for (let n = 0; !ctx.stopped && Date.now() < end && client.state !== 'expired'; n++) {
        const path = `${ROOT}/${w}-${round}-${n}`;
        const action = owned.size === 0 ? 'create' : random.weighted([[3, 'create'], [4, 'check'], [1, 'delete']] as const);
        try {
          if (action === 'create') {
            // An unknown outcome leaves the node out of `owned`: it is not checked.
            await client.create(path, String(life.id), { kind: 'EPHEMERAL' });
            owned.add(path);
            this.created++;
          } else if (action === 'delete') {
            const victim = random.pick([...owned]);
            owned.delete(victim);
            await client.delete(victim);
          } else {
            for (const p of owned) {
              const stat = await client.exists(p, { linearizable: true });
              this.checks++;
              if (stat === null) {
                missing.push(p);
                owned.delete(p);
              } else if (stat.ephemeralOwner !== life.id) {
                this.violation('ownership', `${p} is owned by ${stat.ephemeralOwner}, not by its creator ${life.id}`);
              }
            }
          }
        } catch {
          // outcome recorded above; go on
        }
        await sleep(random.int(20, 200));
      }
      closing = true;
      if (client.state !== 'expired' && (await closeConfirmed(client))) life.endedAt ??= now();
      await ctx.release(client);
      // A linearizable read from the owning session cannot run after the session's expiry was applied
      // (the stream is closed with SESSION_EXPIRED first), so a node found missing was lost while its
      // session lived.
      if (missing.length > 0) this.violation('no premature loss', `session ${life.id}: ${missing.join(', ')} vanished while the session lived (client state now ${client.state})`);
    }
  }

  /** Sessions that die without a goodbye. */
  private async crasher(ctx: RunContext, random: Random): Promise<void> {
    for (let n = 0; !ctx.stopped; n++) {
      await sleep(random.int(500, 2_000));
      try {
        const session = await withTimeout(rawSession(ctx.endpoints(), { timeoutMs: SESSION_TIMEOUT_MS }), 3_000);
        const id = session.connect.connect!.sessionId;
        const life: SessionLife = { id, endedAt: undefined, crashed: true };
        this.sessions.set(id, life);
        session.send([{ id: 2, create: { path: `${ROOT}/crash-${n}`, data: Buffer.from(String(id)), kind: 'EPHEMERAL' } }]);
        await withTimeout(session.response(2), 3_000).catch(() => undefined);
        session.close();
        this.crashes++;
      } catch {
        // could not connect during a fault: try again later
      }
    }
  }

  /** Lists every ephemeral node and its owner; a node of a session known to be gone is a ghost. */
  private async observer(ctx: RunContext, random: Random): Promise<void> {
    await ctx.worker('ephemeral-observer', { newProcess: () => 0 }, random, async (client) => {
      const started = now();
      const names = await client.getChildren(ROOT, { linearizable: true });
      const results = await client.multiRead(names.map((name) => ({ op: 'exists' as const, path: `${ROOT}/${name}` })));
      results.forEach((r, i) => {
        const stat = 'stat' in r ? r.stat : null;
        if (!stat) return;
        this.observations++;
        const life = this.sessions.get(stat.ephemeralOwner);
        if (life?.endedAt !== undefined && life.endedAt < started) {
          this.violation('no ghosts', `${ROOT}/${names[i]} of session ${life.id} seen by a read started ${Math.round((started - life.endedAt) / 1000)} ms after the session ended`);
        }
      });
      return 0;
    }, { pauseMs: [100, 400] });
  }

  async finish(client: Conclave): Promise<void> {
    // Every session is closed or abandoned now: their nodes must go within the session timeout.
    const deadline = Date.now() + SESSION_TIMEOUT_MS * 2 + 30_000;
    for (;;) {
      await client.sync(ROOT);
      const names = await client.getChildren(ROOT);
      if (names.length === 0 || Date.now() > deadline) {
        this.leftovers = names;
        return;
      }
      await sleep(500);
    }
  }

  checked(): CheckedHistory[] {
    return [];
  }

  check(): Finding[] {
    const by = (check: string) => this.violations.filter((v) => v.check === check).map((v) => v.detail);
    const finding = (check: string, okDetail: string): Finding => {
      const found = by(check);
      return { workload: this.name, check, ok: found.length === 0, detail: found.length === 0 ? okDetail : found.slice(0, 10).join('; ') };
    };
    return [
      finding('ownership', `${this.checks} checks by owners`),
      finding('no premature loss', `${this.sessions.size} sessions, ${this.expiries} expired`),
      finding('no ghosts', `${this.observations} observations`),
      {
        workload: this.name,
        check: 'nodes of closed, expired and crashed sessions are gone after healing',
        ok: this.leftovers !== undefined && this.leftovers.length === 0,
        detail: this.leftovers?.length ? `left: ${this.leftovers.slice(0, 20).join(', ')}` : `${this.crashes} crashed sessions`,
      },
    ];
  }

  summary(): Record<string, number> {
    return { sessions: this.sessions.size, created: this.created, checks: this.checks, observations: this.observations, crashes: this.crashes, expiries: this.expiries };
  }
}

/**
 * Closes the session and tells whether the server acknowledged it (Conclave.close() hides a failed
 * close: the session then lives until it expires). Test-only use of the session's request method.
 */
async function closeConfirmed(client: Conclave): Promise<boolean> {
  const session = (client as unknown as { session: { request(body: object, options: object): Promise<unknown> } }).session;
  try {
    await session.request({ op: 'close', close: {} }, { timeoutMs: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))]);
}
