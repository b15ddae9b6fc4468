/**
 * A scripted in-memory cluster for the interaction tests (after etcd-io/raft's test `network`):
 * members are RawNodes over MemoryStorage whose Ready loop runs synchronously, and messages wait
 * in one FIFO queue until the test delivers them. Links can be cut per direction.
 */

import {
  EntryType,
  MemoryStorage,
  MessageType,
  RawNode,
  Role,
  decodeConfChange,
  type ConfState,
  type Message,
  type RawNodeConfig,
  type ReadState,
  type SnapshotMeta,
  type Status,
} from '../../src/raft/index.js';
import { Rng } from './sim/random.js';

export type MemberOptions = Partial<Omit<RawNodeConfig, 'id' | 'storage' | 'random'>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export class TestMember {
  readonly id: number;
  readonly storage: MemoryStorage;
  node: RawNode;
  /** The state machine: data of the applied normal entries, in order. */
  state: string[] = [];
  appliedIndex = 0;
  conf: ConfState;
  readStates: ReadState[] = [];
  /** State machine copies by snapshot index, as the node layer's snapshot files. */
  readonly snapshotData = new Map<number, string[]>();
  incomingSnapshot: string[] | undefined;
  private readonly options: MemberOptions;
  private readonly rng: Rng;

  constructor(id: number, storage: MemoryStorage, options: MemberOptions, rng: Rng) {
    this.id = id;
    this.storage = storage;
    this.options = options;
    this.rng = rng;
    this.conf = storage.initialState().confState;
    this.snapshotData.set(storage.snapshot().index, []);
    this.node = this.newNode();
  }

  private newNode(): RawNode {
    return new RawNode({ electionTick: 10, heartbeatTick: 1, ...this.options, id: this.id, storage: this.storage, random: this.rng.source() });
  }

  status(): Status {
    return this.node.status();
  }

  /** Handles one Ready if there is one: persist, collect messages, apply, advance. */
  handleReady(outbox: Message[]): boolean {
    if (!this.node.hasReady()) return false;
    const rd = this.node.ready();
    if (rd.snapshot !== undefined) {
      this.storage.applySnapshot(rd.snapshot);
      this.state = (this.incomingSnapshot ?? []).slice();
      this.snapshotData.set(rd.snapshot.index, this.state.slice());
      this.appliedIndex = rd.snapshot.index;
      this.conf = rd.snapshot.conf;
    }
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    for (const m of rd.messages) outbox.push(m);
    for (const e of rd.committedEntries) {
      if (e.index !== this.appliedIndex + 1) throw new Error(`member ${this.id} applies ${e.index} after ${this.appliedIndex}`);
      this.appliedIndex = e.index;
      if (e.type === EntryType.ConfChange) this.conf = this.node.applyConfChange(decodeConfChange(e.data));
      else if (e.data.length > 0) this.state.push(decoder.decode(e.data));
    }
    for (const rs of rd.readStates) this.readStates.push(rs);
    this.node.advance(rd);
    return true;
  }

  /** Snapshots the state machine at the applied index and compacts the log up to it. */
  compact(): SnapshotMeta {
    const meta = this.storage.createSnapshot(this.appliedIndex, this.conf);
    this.snapshotData.set(meta.index, this.state.slice());
    this.storage.compact(meta.index);
    return meta;
  }

  /** Crash and restart with everything persisted (the storage here is always synced). */
  restart(): void {
    const snap = this.storage.snapshot();
    this.state = (this.snapshotData.get(snap.index) ?? []).slice();
    this.appliedIndex = snap.index;
    this.conf = snap.conf;
    this.readStates = [];
    this.node = this.newNode();
  }
}

export interface ClusterOptions extends MemberOptions {
  seed?: number;
}

export class TestCluster {
  readonly members = new Map<number, TestMember>();
  /** Messages sent and not yet delivered, in order. */
  queue: Message[] = [];
  /** Every message delivered, for assertions. */
  delivered: Message[] = [];
  /** Messages for which this returns true are lost on the way. */
  dropWhere: ((m: Message) => boolean) | undefined = undefined;
  private readonly blocked = new Set<string>();
  private readonly rng: Rng;
  private readonly options: MemberOptions;

  /** A founding cluster: every voter bootstraps from the same ConfState. */
  constructor(voters: number[], options: ClusterOptions = {}) {
    const { seed = 1, ...memberOptions } = options;
    this.rng = new Rng(seed);
    this.options = memberOptions;
    for (const id of voters) this.addMember(id, { voters, learners: [] });
  }

  /** Starts a member; without `bootstrap` it is a joiner with an empty configuration. */
  addMember(id: number, bootstrap?: ConfState, options: MemberOptions = {}): TestMember {
    const storage = new MemoryStorage();
    if (bootstrap !== undefined) storage.applySnapshot({ index: 0, term: 0, conf: bootstrap });
    const member = new TestMember(id, storage, { ...this.options, ...options }, this.rng.fork());
    this.members.set(id, member);
    return member;
  }

  member(id: number): TestMember {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: number): RawNode {
    return this.member(id).node;
  }

  /** Handles every pending Ready, queueing the messages. */
  flushReadies(): boolean {
    let any = false;
    for (const m of this.members.values()) while (m.handleReady(this.queue)) any = true;
    return any;
  }

  /** Delivers queued messages (and new ones they cause) until nothing moves. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      this.flushReadies();
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliver(m);
    }
    throw new Error('cluster did not stabilize');
  }

  /** Delivers only the queued messages matching `pick`; the others stay queued. */
  deliverWhere(pick: (m: Message) => boolean): Message[] {
    this.flushReadies();
    const chosen = this.queue.filter(pick);
    this.queue = this.queue.filter((m) => !pick(m));
    for (const m of chosen) this.deliver(m);
    return chosen;
  }

  /** Delivers one message now, subject to cut links and dropWhere. */
  deliver(m: Message): void {
    const to = this.members.get(m.to);
    const from = this.members.get(m.from);
    if (to === undefined || this.blocked.has(`${m.from}>${m.to}`) || this.dropWhere?.(m) === true) {
      if (m.type === MessageType.Snap) from?.node.reportSnapshot(m.to, false);
      return;
    }
    if (m.type === MessageType.Snap) to.incomingSnapshot = from?.snapshotData.get(m.snapshot!.index);
    this.delivered.push(m);
    to.node.step(m);
    // The transport reports the end of a snapshot stream to its sender.
    if (m.type === MessageType.Snap) from?.node.reportSnapshot(m.to, true);
  }

  tick(id: number, n = 1): void {
    for (let i = 0; i < n; i++) this.node(id).tick();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const m of this.members.values()) m.node.tick();
  }

  /** Ticks everyone one tick at a time, stabilizing in between. */
  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      this.tickAll();
      this.stabilize();
    }
  }

  cutOneWay(from: number, to: number): void {
    this.blocked.add(`${from}>${to}`);
  }

  cut(a: number, b: number): void {
    this.cutOneWay(a, b);
    this.cutOneWay(b, a);
  }

  isolate(id: number): void {
    for (const other of this.members.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.blocked.clear();
  }

  campaign(id: number): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** The leader of the highest term, if any member believes itself leader. */
  leader(): TestMember | undefined {
    let best: TestMember | undefined;
    for (const m of this.members.values()) {
      const s = m.status();
      if (s.role === Role.Leader && (best === undefined || s.term > best.status().term)) best = m;
    }
    return best;
  }

  propose(id: number, text: string): void {
    this.node(id).propose(bytes(text));
    this.stabilize();
  }
}
