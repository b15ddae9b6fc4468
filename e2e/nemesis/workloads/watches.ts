/**
 * Watchers under faults: sessions holding persistent-recursive watches on /nem (every change the
 * other workloads make), persistent watches on single nodes, and a one-shot data watch re-armed
 * after each event. Every watcher drops its connection every few hundred milliseconds on purpose
 * (Conclave.reconnect(): it resumes on any member, possibly a killed or partitioned one's
 * neighbour), on top of the members the nemesis kills and cuts off.
 *
 * Each watcher keeps windows (zxid ranges during which it must have received every matching change:
 * from its registration to the last response it got before its session ended or the run stopped).
 * After the run, the windows are compared with the committed history of changes (replayed from the
 * members' logs, see replay.ts): ordered, unique, reliable (no gap), atomic (the changes of one
 * multi arrive together), resumable (across the reconnects counted). Event-before-data is checked
 * live: when a watcher reads a node changed at zxid m inside its window, it has the event for m.
 */
import type { Conclave, WatchEvent } from '@conclave/client';
import type { Random } from '../random.js';
import { sleep, type CheckedHistory, type Finding, type RunContext, type Workload } from '../workload.js';
import type { ZxidProbe } from '../probe.js';

export interface WatchWindow {
  watcher: string;
  kind: 'recursive' | 'persistent' | 'oneshot';
  path: string;
  session: number;
  /** events for changes with a zxid above this are expected */
  from: number;
  /** ... up to this one (set when the window closes) */
  to: number | undefined;
  events: WatchEvent[];
  /** reconnects of the session during the window */
  reconnects: number;
  reconnectsAtOpen: number;
}

export interface ReferenceChange {
  type: WatchEvent['type'];
  path: string;
  zxid: number;
}

interface OneShot {
  path: string;
  /** mzxid the read returned */
  readMzxid: number;
  event: WatchEvent | undefined;
  /** the watch did not fire although the node changed */
  silentUntil: number | undefined;
}

const ROOT = '/nem';

export class WatchWorkload implements Workload {
  readonly name = 'watches';
  readonly windows: WatchWindow[] = [];
  private readonly oneShots: OneShot[] = [];
  private readonly beforeData: string[] = [];
  private dataChecks = 0;
  private resets = 0;
  private readonly finishers: (() => Promise<void>)[] = [];

  constructor(
    private readonly recursiveWatchers: number,
    private readonly random: Random,
    /** [min, max] ms between deliberate reconnects */
    private readonly reconnectMs: [number, number] = [200, 1_500],
  ) {}

  async setup(): Promise<void> {}

  async run(ctx: RunContext): Promise<void> {
    const watchers: Promise<void>[] = [];
    for (let i = 0; i < this.recursiveWatchers; i++) watchers.push(this.persistentWatcher(ctx, `recursive-${i}`, 'recursive', ROOT, this.random.fork(), true));
    watchers.push(this.persistentWatcher(ctx, 'persistent-queue', 'persistent', `${ROOT}/queue`, this.random.fork(), false));
    watchers.push(this.persistentWatcher(ctx, 'persistent-register', 'persistent', `${ROOT}/reg/k0`, this.random.fork(), false));
    watchers.push(this.oneShotWatcher(ctx, `${ROOT}/reg/k1`, this.random.fork()));
    await Promise.all(watchers);
  }

  /** Sessions in turn, each with one persistent watch, until the run stops. */
  private async persistentWatcher(ctx: RunContext, label: string, kind: 'recursive' | 'persistent', path: string, random: Random, readsData: boolean): Promise<void> {
    while (!ctx.stopped) {
      let client: Conclave;
      try {
        client = await ctx.connect(`watch-${label}`, { sessionTimeoutMs: 10_000 });
      } catch {
        return;
      }
      const probe = ctx.probeOf(client);
      let window: WatchWindow | undefined;
      /** the last response zxid before the connection dropped: what a WATCH_RESET window ends at */
      let beforeDisconnect = 0;
      client.onState((state) => {
        if (state === 'disconnected') beforeDisconnect = probe.last;
      });
      const received = new Set<string>();
      const listener = (event: WatchEvent) => {
        if (window === undefined) return;
        if (event.type === 'WATCH_RESET') {
          // The member could not replay what this watcher missed: close the window where the gap may start.
          this.resets++;
          this.close(window, beforeDisconnect, probe);
          window = this.open(label, kind, path, client.sessionId, event.zxid, probe);
          return;
        }
        window.events.push(event);
        received.add(`${event.path}@${event.zxid}`);
      };
      try {
        await client.addWatch(path, listener, { recursive: kind === 'recursive' });
        window = this.open(label, kind, path, client.sessionId, client.lastZxid, probe);
      } catch {
        await ctx.release(client);
        continue;
      }
      let nextReconnect = Date.now() + random.int(...this.reconnectMs);
      while (!ctx.stopped && client.state !== 'expired' && client.state !== 'closed') {
        if (readsData) await this.checkEventBeforeData(client, random, received, () => window);
        if (Date.now() >= nextReconnect) {
          client.reconnect();
          nextReconnect = Date.now() + random.int(...this.reconnectMs);
        }
        await sleep(random.int(20, 120));
      }
      const close = async () => {
        if (client.state !== 'expired' && client.state !== 'closed') {
          // A read answered after the last change: every event up to its zxid has arrived before it.
          await client.sync('/').catch(() => undefined);
          await client.exists(ROOT).catch(() => undefined);
        }
        this.close(window!, probe.last, probe);
        await ctx.release(client);
      };
      if (ctx.stopped && client.state !== 'expired') {
        this.finishers.push(close);
        return;
      }
      await close();
    }
  }

  private open(watcher: string, kind: WatchWindow['kind'], path: string, session: number, from: number, probe: ZxidProbe): WatchWindow {
    const window: WatchWindow = { watcher, kind, path, session, from, to: undefined, events: [], reconnects: 0, reconnectsAtOpen: probe.reconnects };
    this.windows.push(window);
    return window;
  }

  private close(window: WatchWindow, to: number, probe: ZxidProbe): void {
    window.to = to;
    window.reconnects = probe.reconnects - window.reconnectsAtOpen;
  }

  /** Reads a node under the watch: if it changed inside the window, its event must have come first. */
  private async checkEventBeforeData(client: Conclave, random: Random, received: Set<string>, window: () => WatchWindow | undefined): Promise<void> {
    const path = random.pick([`${ROOT}/reg/k0`, `${ROOT}/reg/k1`, `${ROOT}/reg/k2`, `${ROOT}/bank/a0`, `${ROOT}/counter/c0`]);
    const w = window();
    const from = w?.from;
    const r = await client.get(path).catch(() => undefined);
    if (r === undefined || from === undefined || window() !== w) return;
    this.dataChecks++;
    if (r.stat.mzxid > from && !received.has(`${path}@${r.stat.mzxid}`)) {
      this.beforeData.push(`${w!.watcher}: read ${path} at mzxid ${r.stat.mzxid} before its event (window from ${from})`);
    }
  }

  /** A one-shot data watch, re-armed after each event. */
  private async oneShotWatcher(ctx: RunContext, path: string, random: Random): Promise<void> {
    let client: Conclave | undefined;
    while (!ctx.stopped) {
      try {
        client ??= await ctx.connect('watch-oneshot', { sessionTimeoutMs: 10_000 });
      } catch {
        return;
      }
      let fired: (event: WatchEvent) => void = () => undefined;
      const event = new Promise<WatchEvent>((resolve) => (fired = resolve));
      let read;
      try {
        read = await client.get(path, { watch: (e) => fired(e) });
      } catch {
        if (client.state === 'expired') {
          await ctx.release(client);
          client = undefined;
        }
        continue;
      }
      const record: OneShot = { path, readMzxid: read.stat.mzxid, event: undefined, silentUntil: undefined };
      this.oneShots.push(record);
      let reconnectAt = Date.now() + random.int(...this.reconnectMs);
      const deadline = Date.now() + 10_000;
      while (record.event === undefined && !ctx.stopped && client.state !== 'expired' && Date.now() < deadline) {
        const e = await Promise.race([event, sleep(100).then(() => undefined)]);
        if (e) record.event = e;
        if (Date.now() > reconnectAt && record.event === undefined) {
          client.reconnect();
          reconnectAt = Infinity;
        }
      }
      if (record.event === undefined && client.state !== 'expired' && !ctx.stopped) {
        // No event within 10 s: did the node change meanwhile? The change may be that recent (after
        // an outage, say) that its event arrived during this read, ahead of its answer (events and
        // answers share one ordered stream), or is still on the way: the event is owed either way.
        const again = await client.get(path, { linearizable: true }).catch(() => undefined);
        if (again && again.stat.mzxid > record.readMzxid) {
          const late = await Promise.race([event, sleep(10_000).then(() => undefined)]);
          if (late) record.event = late;
          else record.silentUntil = again.stat.mzxid; // dropped below if the session expired meanwhile
        }
      }
      if (client.state === 'expired') {
        this.oneShots.pop(); // the watch died with the session
        await ctx.release(client);
        client = undefined;
      }
    }
    if (client) await ctx.release(client);
  }

  /** Closes the windows still open (after healing). */
  async finish(): Promise<void> {
    await Promise.all(this.finishers.splice(0).map((f) => f()));
  }

  checked(): CheckedHistory[] {
    return [];
  }

  /** Checks done without the reference (the ones that need it are in checkAgainst). */
  check(): Finding[] {
    return [
      {
        workload: this.name,
        check: 'event before data (a read never reflects a change whose event has not arrived)',
        ok: this.beforeData.length === 0,
        detail: this.beforeData.length === 0 ? `${this.dataChecks} reads checked` : this.beforeData.slice(0, 10).join('; '),
      },
    ];
  }

  /** Compares every window and one-shot watch with the committed changes. */
  checkAgainst(reference: ReferenceChange[], coveredFrom: number): Finding[] {
    const findings: Finding[] = [];
    const problems = { ordered: [] as string[], unique: [] as string[], reliable: [] as string[], atomic: [] as string[], unexpected: [] as string[] };
    let events = 0;
    let reconnects = 0;
    let checkedWindows = 0;
    for (const w of this.windows) {
      if (w.to === undefined) continue;
      const from = Math.max(w.from, coveredFrom);
      if (w.to <= from) continue;
      checkedWindows++;
      reconnects += w.reconnects;
      const matches = (c: ReferenceChange) =>
        w.kind === 'recursive' ? c.type !== 'NODE_CHILDREN_CHANGED' && (c.path === w.path || c.path.startsWith(w.path + '/')) : c.path === w.path;
      const expected = reference.filter((c) => c.zxid > from && c.zxid <= w.to! && matches(c));
      const got = w.events.filter((e) => e.zxid > from && e.zxid <= w.to!);
      events += got.length;
      const key = (e: { type: string; path: string; zxid: number }) => `${e.zxid} ${e.type} ${e.path}`;
      // ordered: zxids never go down in the stream
      for (let i = 1; i < got.length; i++) {
        if (got[i]!.zxid < got[i - 1]!.zxid) {
          problems.ordered.push(`${w.watcher} (session ${w.session}): zxid ${got[i]!.zxid} after ${got[i - 1]!.zxid}`);
          break;
        }
      }
      // unique
      const seen = new Map<string, number>();
      for (const e of got) seen.set(key(e), (seen.get(key(e)) ?? 0) + 1);
      const dups = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
      if (dups.length > 0) problems.unique.push(`${w.watcher} (session ${w.session}): ${dups.length} duplicated, e.g. ${dups[0]}`);
      // reliable: every expected change delivered; nothing delivered that did not happen
      const expectedKeys = new Set(expected.map(key));
      const missing = expected.filter((c) => !seen.has(key(c)));
      if (missing.length > 0) {
        problems.reliable.push(`${w.watcher} (session ${w.session}, window ${from}..${w.to}): ${missing.length} of ${expected.length} changes missing, first ${key(missing[0]!)}`);
      }
      const extra = got.filter((e) => !expectedKeys.has(key(e)));
      if (extra.length > 0) problems.unexpected.push(`${w.watcher} (session ${w.session}): ${extra.length} events for no committed change, e.g. ${key(extra[0]!)}`);
      // atomic: the events of one zxid arrive together, all of them (linear: a long run has
      // hundreds of thousands of events per window)
      const expectedPerZxid = new Map<number, number>();
      for (const c of expected) expectedPerZxid.set(c.zxid, (expectedPerZxid.get(c.zxid) ?? 0) + 1);
      const ended = new Set<number>();
      for (let i = 0; i < got.length; i++) {
        const z = got[i]!.zxid;
        let j = i;
        while (j < got.length && got[j]!.zxid === z) j++;
        const again = ended.has(z);
        ended.add(z);
        const all = expectedPerZxid.get(z) ?? 0;
        if (again || (j - i < all && missing.length === 0)) {
          problems.atomic.push(`${w.watcher} (session ${w.session}): the events of zxid ${z} did not arrive together`);
          break;
        }
        i = j - 1;
      }
    }
    const finding = (check: string, list: string[], okDetail: string) =>
      findings.push({ workload: this.name, check, ok: list.length === 0, detail: list.length === 0 ? okDetail : list.slice(0, 8).join('; ') });
    finding('ordered', problems.ordered, `${events} events in ${checkedWindows} windows`);
    finding('unique', problems.unique, 'no duplicates');
    finding('reliable (no gaps against the committed changes)', problems.reliable, `across ${reconnects} reconnects`);
    finding('no event without a committed change', problems.unexpected, 'none');
    finding('atomic (a multi\'s events arrive together)', problems.atomic, 'yes');
    // One-shot: fires once, with the first change after the state it was set on. A watch that its
    // member re-armed without the history in between (the client reconnected to a member without
    // it, or the member installed a snapshot) reports the node as it found it, as ZooKeeper's
    // setWatches does (semantics.md, "resumable"): the node's latest data change then, or its
    // deletion at the member's applied zxid. Either way a change of that kind came first.
    const oneShot: string[] = [];
    // Per path, in zxid order: its data changes and deletions, and its deletions alone.
    const nodeChanges = new Map<string, ReferenceChange[]>();
    const nodeDeletions = new Map<string, ReferenceChange[]>();
    const dataChanged = new Set<string>(); // "path zxid" of every data change
    const append = (map: Map<string, ReferenceChange[]>, c: ReferenceChange) => {
      if (!map.has(c.path)) map.set(c.path, []);
      map.get(c.path)!.push(c);
    };
    for (const c of reference) {
      if (c.type === 'NODE_DATA_CHANGED') dataChanged.add(`${c.path} ${c.zxid}`);
      else if (c.type === 'NODE_DELETED') append(nodeDeletions, c);
      else continue;
      append(nodeChanges, c);
    }
    for (const o of this.oneShots) {
      if (o.readMzxid < coveredFrom) continue;
      const changes = nodeChanges.get(o.path) ?? [];
      const at = firstAbove(changes, o.readMzxid);
      const first = changes[at];
      // The first deletion after the watch was set, if any.
      const deletions = nodeDeletions.get(o.path) ?? [];
      const deletion = deletions[firstAbove(deletions, o.readMzxid)];
      const resumed = (e: { type: string; zxid: number }) =>
        first !== undefined &&
        (e.type === 'NODE_DATA_CHANGED'
          ? first.type === 'NODE_DATA_CHANGED' && e.zxid > o.readMzxid && dataChanged.has(`${o.path} ${e.zxid}`)
          : e.type === 'NODE_DELETED' && deletion !== undefined && deletion.zxid <= e.zxid);
      if (o.event && (!first || o.event.zxid !== first.zxid || o.event.type !== first.type) && !resumed(o.event)) {
        oneShot.push(`set at mzxid ${o.readMzxid}: got ${o.event.type}@${o.event.zxid}, first change is ${first ? `${first.type}@${first.zxid}` : 'none'}`);
      }
      if (!o.event && o.silentUntil !== undefined) oneShot.push(`set at mzxid ${o.readMzxid}: never fired, though the node changed (mzxid ${o.silentUntil})`);
    }
    finding('one-shot watch fires once, for the first change', oneShot, `${this.oneShots.filter((o) => o.event).length} one-shot events`);
    return findings;
  }

  summary(): Record<string, number> {
    const reconnects = this.windows.reduce((n, w) => n + w.reconnects, 0);
    return { windows: this.windows.length, events: this.windows.reduce((n, w) => n + w.events.length, 0), reconnects, resets: this.resets, oneShots: this.oneShots.length, dataChecks: this.dataChecks };
  }
}

/** The index of the first change above `zxid` in changes sorted by zxid (changes.length if none). */
function firstAbove(changes: ReferenceChange[], zxid: number): number {
  let lo = 0;
  let hi = changes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (changes[mid]!.zxid <= zxid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
