/**
 * The peer-link proxies: they tell which member dialed them from the process owning the socket,
 * and apply each directed link's mode (ok, blackhole, reject, delay).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { PeerProxies } from '../../nemesis/proxy.js';

/** A child process posing as member `id`: connects to `port`, sends stdin lines, prints what comes back. */
function dialer(id: number, port: number): { child: ChildProcess; lines: string[]; send(line: string): void; closed: Promise<void> } {
  const script = `
    const s = require('net').connect(${port}, '127.0.0.1');
    s.on('data', (d) => process.stdout.write(d));
    s.on('close', () => process.exit(0));
    s.on('error', () => process.exit(0));
    process.stdin.on('data', (d) => s.write(d));`;
  const child = spawn(process.execPath, ['-e', script, '--', '--id', String(id)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  const closed = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, send: (line) => child.stdin!.write(line + '\n'), closed };
}

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('peer-link proxies', function () {
  this.timeout(20_000);
  let echo: net.Server;
  let proxies: PeerProxies;
  let port: number;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    proxies = new PeerProxies();
    port = await proxies.add(7, (echo.address() as net.AddressInfo).port);
  });
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await proxies.close();
    await new Promise((r) => echo.close(r));
  });

  const dial = (id: number) => {
    const d = dialer(id, port);
    children.push(d.child);
    return d;
  };

  it('forwards, and knows the dialing member', async () => {
    const d = dial(3);
    d.send('hello');
    await until(() => d.lines.includes('hello'));
    assert.equal(proxies.stats.connections, 1);
    assert.equal(proxies.stats.unidentified, 0);
  });

  it('blackhole holds bytes until healed; only the blocked direction of the pair is affected', async () => {
    const blocked = dial(3);
    const other = dial(4);
    blocked.send('one');
    await until(() => blocked.lines.includes('one'));
    proxies.setLink(3, 7, { kind: 'blackhole' });
    blocked.send('two');
    other.send('through');
    await until(() => other.lines.includes('through'));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!blocked.lines.includes('two'), 'a blackholed link delivered');
    proxies.setLink(3, 7, { kind: 'ok' }, () => true);
    await until(() => blocked.lines.includes('two'));
  });

  it('blackhole then heal may reset the held connection instead', async () => {
    const d = dial(3);
    d.send('one');
    await until(() => d.lines.includes('one'));
    proxies.setLink(3, 7, { kind: 'blackhole' });
    d.send('two');
    await new Promise((r) => setTimeout(r, 100));
    proxies.healAll(() => false);
    await d.closed;
    assert.ok(!d.lines.includes('two'));
    assert.equal(proxies.stats.resetOnHeal, 1);
  });

  it('reject closes the connection and refuses new ones', async () => {
    const d = dial(3);
    d.send('one');
    await until(() => d.lines.includes('one'));
    proxies.setLink(3, 7, { kind: 'reject' });
    await d.closed;
    const again = dial(3);
    await again.closed;
    assert.equal(proxies.stats.refused, 1);
  });

  it('delay forwards late, in order', async () => {
    proxies.setLink(3, 7, { kind: 'delay', delayMs: 200 });
    const d = dial(3);
    const started = Date.now();
    for (let i = 0; i < 5; i++) d.send(`m${i}`);
    await until(() => d.lines.length >= 5);
    assert.ok(Date.now() - started >= 200, 'not delayed');
    assert.deepEqual(d.lines, ['m0', 'm1', 'm2', 'm3', 'm4']);
  });
});
