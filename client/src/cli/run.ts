/**
 * Carries out a parsed `conclave` invocation against the cluster and returns the exit code. Data
 * commands open a session; cluster and snapshot commands use the admin API only (no session, so
 * they answer even without a quorum).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { NoNodeError } from '@conclave/proto/errors';
import { ClusterAdmin } from '../admin.js';
import { Conclave } from '../client.js';
import { LeaderElection } from '../recipes/election.js';
import { Mutex } from '../recipes/lock.js';
import type { SessionState } from '../types.js';
import { EXIT, type DataSource, type Parsed } from './args.js';
import { errorLine, exitCodeFor, formatMembers, formatStat, formatStatus, jsonData } from './format.js';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /**
   * Registers what to do on the first Ctrl-C (or SIGTERM) while a long-running command (watch,
   * lock, elect) runs; the returned function unregisters it.
   */
  onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

export async function run(parsed: Parsed, io: Io): Promise<number> {
  const { globals } = parsed;
  const print = (human: string | undefined, json: unknown) => {
    if (globals.json) io.stdout.write(`${JSON.stringify(json)}\n`);
    else if (human !== undefined) io.stdout.write(`${human}\n`);
  };
  const note = (text: string) => io.stderr.write(`conclave: ${text}\n`);
  const data = (source: DataSource) => (source.from === 'stdin' ? readAll(io.stdin) : Promise.resolve(Buffer.from(source.value)));

  try {
    if (parsed.cmd.startsWith('cluster ') || parsed.cmd === 'snapshot save') {
      const admin = new ClusterAdmin({ endpoints: globals.endpoints, requestTimeoutMs: globals.timeoutMs });
      try {
        return await runAdmin(parsed, admin, print);
      } finally {
        admin.close();
      }
    }
    const client = await Conclave.connect({
      endpoints: globals.endpoints,
      requestTimeoutMs: globals.timeoutMs,
      sessionTimeoutMs: globals.sessionTimeoutMs,
      connectTimeoutMs: Math.min(globals.timeoutMs, 5_000),
      signal: AbortSignal.timeout(globals.timeoutMs),
    });
    try {
      switch (parsed.cmd) {
        case 'create': {
          const path = await client.create(parsed.path, await data(parsed.data), { kind: parsed.kind, ttlMs: parsed.ttlMs });
          print(path, { path });
          return EXIT.OK;
        }
        case 'get': {
          const { data: bytes, stat } = await client.get(parsed.path);
          if (globals.json) print(undefined, { path: parsed.path, ...jsonData(bytes), stat });
          // The data as it is, ending with a newline (unless it is empty or already ends with one).
          else if (bytes.length > 0) io.stdout.write(bytes.at(-1) === 0x0a ? bytes : Buffer.concat([bytes, Buffer.from('\n')]));
          return EXIT.OK;
        }
        case 'set': {
          const stat = await client.set(parsed.path, await data(parsed.data), { version: parsed.version });
          print(undefined, { path: parsed.path, stat });
          return EXIT.OK;
        }
        case 'stat': {
          const stat = await client.exists(parsed.path);
          if (stat === null) throw new NoNodeError(`no node at ${parsed.path}`, { path: parsed.path });
          print(formatStat(stat), { path: parsed.path, stat });
          return EXIT.OK;
        }
        case 'ls': {
          if (!parsed.recursive) {
            const children = await client.getChildren(parsed.path);
            print(children.length ? children.join('\n') : undefined, { path: parsed.path, children });
          } else {
            const paths = await subtree(client, parsed.path);
            print(paths.join('\n'), { path: parsed.path, paths });
          }
          return EXIT.OK;
        }
        case 'rm': {
          let deleted = 1;
          if (parsed.recursive) {
            if ((await client.exists(parsed.path)) === null) throw new NoNodeError(`no node at ${parsed.path}`, { path: parsed.path });
            deleted = await client.deleteAll(parsed.path);
          } else {
            await client.delete(parsed.path, { version: parsed.version });
          }
          print(undefined, { path: parsed.path, deleted });
          return EXIT.OK;
        }
        case 'watch':
          return await watch(client, parsed.path, parsed.recursive, io, print, note);
        case 'lock':
          return await lock(client, parsed, io, note);
        case 'elect':
          return await elect(client, parsed, io, print, note);
      }
    } finally {
      await client.close();
    }
  } catch (error) {
    io.stderr.write(`${errorLine(error)}\n`);
    return exitCodeFor(error);
  }
  return EXIT.OK;
}

/** `path` and every path below it, depth first in name order (read with pipelined requests). */
async function subtree(client: Conclave, path: string): Promise<string[]> {
  const children = await client.getChildren(path);
  const below = await Promise.all(
    children.map((c) =>
      subtree(client, path === '/' ? `/${c}` : `${path}/${c}`).catch((error) => {
        if (error instanceof NoNodeError) return [];
        throw error;
      }),
    ),
  );
  return [path, ...below.flat()];
}

async function runAdmin(parsed: Parsed, admin: ClusterAdmin, print: (human: string | undefined, json: unknown) => void): Promise<number> {
  switch (parsed.cmd) {
    case 'cluster status': {
      const rows = await admin.statusAll();
      print(
        formatStatus(rows),
        rows.map((r) => ('status' in r ? r.status : { endpoint: r.endpoint, error: errorLine(r.error).replace(/^conclave: /, '') })),
      );
      return rows.some((r) => 'error' in r) ? EXIT.UNAVAILABLE : EXIT.OK;
    }
    case 'cluster members': {
      const m = await admin.members();
      print(formatMembers(m), m);
      return EXIT.OK;
    }
    case 'cluster add': {
      const m = await admin.addMember(parsed.id, parsed.peerAddress, parsed.clientAddress);
      print(`${formatMembers(m)}\nadded ${parsed.id} as a learner: start it with --join, then run: conclave cluster promote ${parsed.id}`, m);
      return EXIT.OK;
    }
    case 'cluster promote': {
      const m = await admin.promote(parsed.id);
      print(formatMembers(m), m);
      return EXIT.OK;
    }
    case 'cluster remove': {
      const m = await admin.remove(parsed.id);
      print(formatMembers(m), m);
      return EXIT.OK;
    }
    case 'cluster transfer': {
      const leaderId = await admin.transferLeadership(parsed.id);
      print(`leader: ${leaderId}`, { leaderId });
      return EXIT.OK;
    }
    case 'snapshot save': {
      const saved = await admin.saveSnapshot(parsed.file);
      print(`saved ${saved.file}: ${saved.bytes} bytes from ${saved.endpoint}`, saved);
      return EXIT.OK;
    }
  }
  return EXIT.USAGE;
}

/** Session state changes, told on stderr (they interrupt long-running commands' output otherwise). */
function reportStates(client: Conclave, note: (text: string) => void): () => void {
  return client.onState((state: SessionState) => {
    if (state === 'disconnected') note(`disconnected from member ${client.memberId}; the session lives on, reconnecting`);
    else if (state === 'reconnected') note(`reconnected to member ${client.memberId} (${client.endpoint})`);
    else if (state === 'expired') note('the session expired');
  });
}

async function watch(
  client: Conclave,
  path: string,
  recursive: boolean,
  io: Io,
  print: (human: string | undefined, json: unknown) => void,
  note: (text: string) => void,
): Promise<number> {
  const stream = client.watch(path, { recursive });
  const stopStates = reportStates(client, note);
  const stopInterrupt = io.onInterrupt(() => void stream.close());
  try {
    await stream.ready;
    note(`watching ${path}${recursive ? ' and its subtree' : ''}; Ctrl-C to stop`);
    for await (const e of stream) print(`${e.type} ${e.path} zxid=${e.zxid}`, e);
  } finally {
    stopInterrupt();
    stopStates();
    await stream.close();
  }
  return client.state === 'expired' ? EXIT.UNAVAILABLE : EXIT.OK;
}

async function lock(client: Conclave, parsed: Extract<Parsed, { cmd: 'lock' }>, io: Io, note: (text: string) => void): Promise<number> {
  const mutex = new Mutex(client, parsed.path);
  const stopStates = reportStates(client, note);
  const waiting = new AbortController();
  const stopWaiting = io.onInterrupt(() => waiting.abort(new Error('interrupted while waiting for the lock')));
  let token: number;
  try {
    token = await mutex.acquire({ signal: waiting.signal, timeoutMs: parsed.waitMs });
  } catch (error) {
    stopStates();
    if ((error as { code?: string }).code === 'TIMEOUT' && parsed.waitMs !== undefined) {
      note(`${parsed.path} is held by another; not acquired within ${parsed.waitMs} ms`);
      return EXIT.CONFLICT;
    }
    throw error;
  } finally {
    stopWaiting();
  }
  const [file, ...args] = parsed.command;
  const child = spawn(file!, args, {
    stdio: 'inherit',
    env: { ...process.env, CONCLAVE_LOCK_PATH: parsed.path, CONCLAVE_FENCING_TOKEN: String(token) },
  });
  let lost: Error | undefined;
  const onLost = () => {
    lost = mutex.signal?.reason ?? new Error('lock lost');
    child.kill('SIGTERM');
  };
  mutex.signal?.addEventListener('abort', onLost, { once: true });
  const stopInterrupt = io.onInterrupt((signal) => child.kill(signal));
  try {
    const code = await new Promise<number>((resolve) => {
      child.once('error', (error) => {
        note(`cannot run ${file}: ${error.message}`);
        resolve(127);
      });
      child.once('exit', (exitCode, signal) => resolve(exitCode ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    if (lost) {
      note(`lock lost while the command ran: ${lost.message}`);
      return EXIT.GENERIC;
    }
    return code;
  } finally {
    stopInterrupt();
    stopStates();
    mutex.signal?.removeEventListener('abort', onLost);
    await mutex.release();
  }
}

async function elect(
  client: Conclave,
  parsed: Extract<Parsed, { cmd: 'elect' }>,
  io: Io,
  print: (human: string | undefined, json: unknown) => void,
  note: (text: string) => void,
): Promise<number> {
  const election = new LeaderElection(client, parsed.path, parsed.proposal === undefined ? {} : { id: parsed.proposal });
  const stopping = new AbortController();
  const stopInterrupt = io.onInterrupt(() => stopping.abort(new Error('interrupted')));
  const stopStates = reportStates(client, note);
  try {
    while (!stopping.signal.aborted) {
      const leader = await election.leader();
      print(`campaigning for ${parsed.path}; leader: ${leader ? leader.id : 'none'}`, { event: 'campaigning', path: parsed.path, leader: leader?.id ?? null });
      let leadership;
      try {
        leadership = await election.campaign({ signal: stopping.signal });
      } catch (error) {
        if (stopping.signal.aborted) break;
        throw error;
      }
      print(`elected: ${parsed.path} (fencing token ${leadership.token})`, { event: 'elected', path: parsed.path, token: leadership.token });
      await new Promise<void>((resolve) => {
        if (leadership.signal.aborted || stopping.signal.aborted) return resolve();
        leadership.signal.addEventListener('abort', () => resolve(), { once: true });
        stopping.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      if (stopping.signal.aborted) {
        await leadership.resign();
        print('resigned', { event: 'resigned', path: parsed.path, token: leadership.token });
        break;
      }
      const reason = (leadership.signal.reason as Error | undefined)?.message ?? 'unknown';
      print(`lost leadership: ${reason}`, { event: 'lost', path: parsed.path, token: leadership.token, reason });
      if (client.state === 'expired' || client.state === 'closed') return EXIT.UNAVAILABLE;
    }
    return EXIT.OK;
  } finally {
    stopStates();
    stopInterrupt();
  }
}
