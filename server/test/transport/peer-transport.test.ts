/**
 * The peer transport on real loopback sockets: batches arrive whole and in order, refusals reach the
 * sender, snapshots stream with their outcome reported, a restarted peer is reached again, a closed
 * connection is reported, and garbage on the peer port closes that connection only.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { silentLogger } from '../../src/logger.js';
import { EntryType, MessageType, type Message } from '../../src/raft/types.js';
import { PeerTransport, parsePeerAddress } from '../../src/transport/peer-transport.js';
import type { ForwardRejection, ForwardedTxn, PeerHandlers, Refusal } from '../../src/transport/transport.js';

const CLUSTER = 'c0ffee';

/** A PeerHandlers that records what arrives. */
class Recorder implements PeerHandlers {
  messages: Message[] = [];
  touches: number[] = [];
  forwards: ForwardedTxn[] = [];
  rejections: ForwardRejection[] = [];
  disconnects: number[] = [];
  refusals: { peer: number; refusal: Refusal; message: string }[] = [];
  addresses: string[] = [];
  snapshots: { from: number; message: Message; data: Buffer }[] = [];
  refuse: { refusal: Refusal; message: string } | undefined;
  snapshotFailure: Error | undefined;
  private waiters: (() => void)[] = [];

  admit(_from: number, clusterId: string) {
    if (this.refuse) return this.refuse;
    return clusterId === CLUSTER ? undefined : { refusal: 'CLUSTER_MISMATCH' as const, message: `not ${clusterId}` };
  }
  onPeerAddress(_from: number, address: string) {
    this.addresses.push(address);
  }
  onMessages(_from: number, messages: Message[]) {
    this.messages.push(...messages);
    this.changed();
  }
  onTouches(_from: number, ids: number[]) {
    this.touches.push(...ids);
    this.changed();
  }
  onForwards(_from: number, forwards: ForwardedTxn[]) {
    this.forwards.push(...forwards);
    this.changed();
  }
  onRejections(_from: number, rejections: ForwardRejection[]) {
    this.rejections.push(...rejections);
    this.changed();
  }
  async onSnapshot(from: number, message: Message, chunks: AsyncIterable<Uint8Array>) {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    if (this.snapshotFailure) throw this.snapshotFailure;
    this.snapshots.push({ from, message, data: Buffer.concat(parts) });
  }
  onDisconnected(from: number) {
    this.disconnects.push(from);
    this.changed();
  }
  onRefused(peer: number, refusal: Refusal, message: string) {
    this.refusals.push({ peer, refusal, message });
    this.changed();
  }
  private changed() {
    for (const wake of this.waiters.splice(0)) wake();
  }
  async until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }
}

function message(from: number, to: number, index: number, data = Buffer.from(`entry ${index}`)): Message {
  return {
    type: MessageType.App,
    to,
    from,
    term: 3,
    logTerm: 3,
    index,
    entries: [{ term: 3, index: index + 1, type: EntryType.Normal, data }],
    commit: index,
    reject: false,
    rejectHint: 0,
    commitOnly: false,
  };
}

async function member(id: number, handlers: PeerHandlers, port = 0, clusterId = CLUSTER): Promise<PeerTransport> {
  const transport = new PeerTransport({ id, clusterId: () => clusterId, selfAddress: () => `127.0.0.1:${port}`, host: '127.0.0.1', port, logger: silentLogger() });
  await transport.start(handlers);
  return transport;
}

describe('transport: PeerTransport over loopback TCP', function () {
  this.timeout(20_000);
  const open: PeerTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.stop()));
  });

  async function pair(bHandlers = new Recorder(), aCluster = CLUSTER) {
    const aHandlers = new Recorder();
    const b = await member(2, bHandlers);
    const a = await member(1, aHandlers, 0, aCluster);
    open.push(a, b);
    a.setPeers(new Map([[2, `127.0.0.1:${b.boundPort}`]]));
    b.setPeers(new Map([[1, `127.0.0.1:${a.boundPort}`]]));
    return { a, b, aHandlers, bHandlers };
  }

  it('parses host:port and [v6]:port peer addresses, and nothing else', () => {
    assert.deepEqual(parsePeerAddress('10.0.0.1:2882'), { host: '10.0.0.1', port: 2882 });
    assert.deepEqual(parsePeerAddress('conclave-0.conclave-peers.ns.svc:2882'), { host: 'conclave-0.conclave-peers.ns.svc', port: 2882 });
    assert.deepEqual(parsePeerAddress('[::1]:2882'), { host: '::1', port: 2882 });
    for (const bad of ['', 'host', 'host:', ':2882', 'host:0', 'host:70000', '::1:2882', 'dns:///host:1']) {
      assert.equal(parsePeerAddress(bad), undefined, bad);
    }
  });

  it('delivers Raft messages, touches, forwards and rejections in order, one batch per turn', async () => {
    const { a, bHandlers } = await pair();
    for (let i = 0; i < 100; i++) {
      a.send([message(1, 2, i)]);
      if (i % 10 === 0) a.sendTouches(2, [i]);
      if (i % 25 === 0) {
        a.forward(2, [{ originSeq: i, txn: Buffer.from(`txn ${i}`) }]);
        a.reject(2, [{ originSeq: i, code: 'NOT_LEADER', message: `no ${i}` }]);
      }
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await bHandlers.until(() => bHandlers.messages.length === 100, '100 messages');
    assert.deepEqual(bHandlers.messages.map((m) => m.index), [...Array(100).keys()]);
    assert.deepEqual(bHandlers.messages[42], message(1, 2, 42));
    assert.deepEqual(bHandlers.touches, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    assert.deepEqual(bHandlers.forwards.map((f) => [f.originSeq, Buffer.from(f.txn).toString()]), [0, 25, 50, 75].map((i) => [i, `txn ${i}`]));
    assert.deepEqual(bHandlers.rejections, [0, 25, 50, 75].map((i) => ({ originSeq: i, code: 'NOT_LEADER', message: `no ${i}` })));
    assert.ok(bHandlers.addresses.length > 0, 'the sender tells its address');
    const sent = a.peerStats().find((s) => s.id === 2)!;
    assert.ok(sent.sentBytes > 100 * 20, `bytes sent are counted (${sent.sentBytes})`);
  });

  it('sends a batch larger than one frame in several, in order', async () => {
    const { a, bHandlers } = await pair();
    const big = Buffer.alloc(3 * 1024 * 1024, 1);
    a.send(Array.from({ length: 8 }, (_, i) => message(1, 2, i, big))); // 24 MiB: over the 16 MiB a frame carries
    await bHandlers.until(() => bHandlers.messages.length === 8, '8 large messages', 15_000);
    assert.deepEqual(bHandlers.messages.map((m) => m.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(bHandlers.messages.every((m) => m.entries[0]!.data.length === big.length));
  });

  it('tells the sender why it is refused, and delivers nothing', async () => {
    const { a, aHandlers, bHandlers } = await pair(new Recorder(), 'other-cluster');
    a.send([message(1, 2, 1)]);
    await aHandlers.until(() => aHandlers.refusals.length > 0, 'the refusal');
    assert.equal(aHandlers.refusals[0]!.refusal, 'CLUSTER_MISMATCH');
    assert.equal(aHandlers.refusals[0]!.message, 'not other-cluster');
    assert.equal(bHandlers.messages.length, 0);
  });

  it('reports a closed connection from a sender to the receiver', async () => {
    const { a, bHandlers } = await pair();
    a.send([message(1, 2, 1)]);
    await bHandlers.until(() => bHandlers.messages.length === 1, 'the message');
    await a.stop();
    await bHandlers.until(() => bHandlers.disconnects.includes(1), 'the disconnect');
  });

  it('reaches a peer again after it restarts on the same port; what was sent meanwhile is dropped', async () => {
    const { a, b } = await pair();
    const port = b.boundPort;
    await b.stop();
    a.send([message(1, 2, 1)]);
    await new Promise((r) => setTimeout(r, 100));
    const again = new Recorder();
    const b2 = await member(2, again, port);
    open.push(b2);
    const deadline = Date.now() + 5000;
    let index = 2;
    while (again.messages.length === 0 && Date.now() < deadline) {
      a.send([message(1, 2, index++)]);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(again.messages.length > 0, 'the restarted peer receives');
    assert.ok(again.messages.every((m) => m.index >= 2), 'nothing from before the restart arrives late');
  });

  it('dials again at once, not after the retry pause, when a connection that worked breaks', async () => {
    const { a, b } = await pair();
    const port = b.boundPort;
    a.send([message(1, 2, 1)]);
    await new Promise((r) => setTimeout(r, 300));
    await b.stop();
    const again = new Recorder();
    const b2 = await member(2, again, port);
    open.push(b2);
    // Let the sender see its connection close, then send once: with a pause before redialling the
    // message would be dropped (the peer's election timer runs meanwhile).
    await new Promise((r) => setTimeout(r, 100));
    a.send([message(1, 2, 2)]);
    await again.until(() => again.messages.length === 1, 'the message on a new connection', 2000);
  });

  it('dials a peer again as soon as it greets, not after the retry pause, when dialling it failed', async () => {
    const aHandlers = new Recorder();
    const a = new PeerTransport({ id: 1, clusterId: () => CLUSTER, selfAddress: () => '127.0.0.1:0', host: '127.0.0.1', port: 0, logger: silentLogger(), retryMs: 60_000 });
    await a.start(aHandlers);
    open.push(a);
    const free = await member(2, new Recorder());
    const port = free.boundPort;
    await free.stop();
    a.setPeers(new Map([[2, `127.0.0.1:${port}`]]));
    const txn = Buffer.from('write');
    a.forward(2, [{ originSeq: 1, txn }]);
    a.flush();
    await aHandlers.until(() => aHandlers.rejections.length === 1, 'the write on the failed dial, rejected');
    // the peer comes up: without a greeting, member 1 would not dial it for a minute
    const bHandlers = new Recorder();
    const b = await member(2, bHandlers, port);
    open.push(b);
    b.setPeers(new Map([[1, `127.0.0.1:${a.boundPort}`]]));
    b.greet();
    for (let seq = 2; bHandlers.forwards.length === 0; seq++) {
      assert.ok(seq < 250, 'a write reaches the greeting peer within 5 s');
      a.forward(2, [{ originSeq: seq, txn }]);
      a.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('fails forwarded writes it cannot send at once, as not applied: peer down, dial failing, peer unknown', async () => {
    const { a, b, aHandlers } = await pair();
    await b.stop();
    const txn = Buffer.from('write');
    a.forward(2, [{ originSeq: 5, txn }]);
    a.flush();
    await aHandlers.until(() => aHandlers.rejections.length === 1, 'the rejection of a write queued on a failed dial');
    a.forward(2, [{ originSeq: 6, txn }]);
    a.flush();
    a.forward(9, [{ originSeq: 7, txn }]);
    await aHandlers.until(() => aHandlers.rejections.length === 3, 'the rejections while redialling waits, and for an unknown member');
    assert.deepEqual(aHandlers.rejections.map((r) => [r.originSeq, r.code]), [[5, 'UNAVAILABLE'], [6, 'UNAVAILABLE'], [7, 'UNAVAILABLE']]);
    assert.match(aHandlers.rejections[0]!.message, /cannot connect to member 2/);
    assert.match(aHandlers.rejections[1]!.message, /no connection to member 2/);
    assert.match(aHandlers.rejections[2]!.message, /member 9 is unknown/);
  });

  it('streams a snapshot in chunks and reports the outcome; a refused or failed one reports false', async () => {
    const { a, bHandlers, aHandlers } = await pair();
    const file = Buffer.alloc(5 * 1024 * 1024 + 17);
    for (let i = 0; i < file.length; i++) file[i] = (i * 31) & 0xff;
    const snap: Message = { ...message(1, 2, 0), type: MessageType.Snap, entries: [], snapshot: { index: 90, term: 3, conf: { voters: [1, 2], learners: [] } } };
    const send = () =>
      new Promise<boolean>((resolve) =>
        a.sendSnapshot(
          snap,
          async function* () {
            for (let at = 0; at < file.length; at += 300_000) yield file.subarray(at, at + 300_000);
          },
          resolve,
        ),
      );
    assert.equal(await send(), true);
    assert.equal(bHandlers.snapshots.length, 1);
    assert.deepEqual(bHandlers.snapshots[0]!.message.snapshot, snap.snapshot);
    assert.ok(bHandlers.snapshots[0]!.data.equals(file), 'the file arrives intact');

    bHandlers.snapshotFailure = new Error('disk full');
    assert.equal(await send(), false, 'the receiver failed to store it');
    bHandlers.snapshotFailure = undefined;

    bHandlers.refuse = { refusal: 'MEMBER_REMOVED', message: 'member 1 was removed' };
    assert.equal(await send(), false, 'refused');
    assert.deepEqual(aHandlers.refusals.map((r) => r.refusal), ['MEMBER_REMOVED']);
    assert.equal(bHandlers.snapshots.length, 1);
  });

  it('drops batches for a peer that stops reading once its unsent bytes pass the bound, instead of buffering them', async () => {
    // A "peer" that accepts and never reads: the kernel's buffers fill, then the connection's.
    const stalled = new Set<net.Socket>();
    const sink = net.createServer((socket) => {
      socket.pause();
      stalled.add(socket);
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const lines: { msg: string; unsent?: number }[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const limit = 1024 * 1024;
    const a = new PeerTransport({ id: 1, clusterId: () => CLUSTER, selfAddress: () => '127.0.0.1:1', host: '127.0.0.1', port: 0, logger, maxUnsentBytes: limit });
    await a.start(new Recorder());
    open.push(a);
    try {
      a.setPeers(new Map([[2, `127.0.0.1:${(sink.address() as net.AddressInfo).port}`]]));
      const entry = Buffer.alloc(256 * 1024, 1);
      for (let i = 0; i < 400; i++) {
        a.send([message(1, 2, i, entry)]); // 100 MiB in all
        a.flush();
        await new Promise((r) => setImmediate(r));
      }
      const dropped = lines.filter((l) => l.msg === 'peer connection backed up: batch dropped');
      assert.ok(dropped.length >= 300, `${dropped.length} of 400 batches dropped`);
      assert.ok(dropped.every((l) => l.unsent! <= limit + entry.length + 1024), `unsent bytes stay near the bound (max ${Math.max(...dropped.map((l) => l.unsent!))})`);
    } finally {
      for (const socket of stalled) socket.destroy();
      await new Promise((resolve) => sink.close(resolve));
    }
  });

  it('closes a connection that sends garbage or oversized frames, and keeps serving the others', async () => {
    const { a, bHandlers, b } = await pair();
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from([0, 0, 0, 9, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0, 0, 0, 2, 4, 0])]) {
      const socket = net.connect({ host: '127.0.0.1', port: b.boundPort });
      socket.on('error', () => undefined);
      socket.write(garbage);
      await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    }
    a.send([message(1, 2, 5)]);
    await bHandlers.until(() => bHandlers.messages.length === 1, 'a good peer still gets through');
  });
});
