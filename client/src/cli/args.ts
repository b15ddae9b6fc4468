/**
 * The `conclave` command line, parsed (with commander) into a typed Invocation and nothing else:
 * no I/O beyond help and usage messages, so that every command's parsing is unit-tested without a
 * cluster. run.ts carries invocations out.
 */
import { Command, CommanderError, InvalidArgumentError, Option, type OutputConfiguration } from 'commander';
import { DEFAULT_ENDPOINTS, parseEndpoints } from '../endpoints.js';
import type { NodeKind } from '../types.js';

/** Exit codes, documented in --help. */
export const EXIT = {
  OK: 0,
  GENERIC: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  UNAVAILABLE: 5,
} as const;

export type DataSource = { from: 'argument'; value: string } | { from: 'stdin' };

export interface Globals {
  endpoints: string[];
  json: boolean;
  /** per request, ms */
  timeoutMs: number;
  sessionTimeoutMs: number;
}

export type Invocation =
  | { cmd: 'create'; path: string; data: DataSource; kind: NodeKind; ttlMs: number }
  | { cmd: 'get'; path: string }
  | { cmd: 'set'; path: string; data: DataSource; version: number }
  | { cmd: 'stat'; path: string }
  | { cmd: 'ls'; path: string; recursive: boolean }
  | { cmd: 'rm'; path: string; recursive: boolean; version: number }
  | { cmd: 'watch'; path: string; recursive: boolean }
  | { cmd: 'lock'; path: string; command: string[]; waitMs: number | undefined }
  | { cmd: 'elect'; path: string; proposal: string | undefined }
  | { cmd: 'cluster status' }
  | { cmd: 'cluster members' }
  | { cmd: 'cluster add'; id: number; peerAddress: string; clientAddress: string }
  | { cmd: 'cluster promote'; id: number }
  | { cmd: 'cluster remove'; id: number }
  | { cmd: 'cluster transfer'; id: number }
  | { cmd: 'snapshot save'; file: string };

export type Parsed = Invocation & { globals: Globals };

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  failure (e.g. a held lock or leadership was lost)
  2  usage: bad arguments, bad path, data too large
  3  not found (NoNode, unknown member)
  4  conflict: node exists, bad version, not empty, lock not acquired in time
  5  unavailable: no member reachable, no quorum, timeout, session expired`;

function integer(what: string, min: number, max?: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
      throw new InvalidArgumentError(max === undefined ? `${what} must be an integer >= ${min}` : `${what} must be an integer in ${min}..${max}`);
    }
    return n;
  };
}

function path(value: string): string {
  if (!value.startsWith('/')) throw new InvalidArgumentError(`a path is absolute (starts with /): ${JSON.stringify(value)}`);
  return value;
}

function data(value: string | undefined): DataSource {
  return value === '-' ? { from: 'stdin' } : { from: 'argument', value: value ?? '' };
}

/** A usage error found after commander's own checks (reported the same way). */
export class UsageError extends Error {}

/** A lock or election NAME: a path if it starts with /, else a name under `base`. */
export function recipePath(name: string, base: string): string {
  if (name.startsWith('/')) return name;
  if (name === '' || name.includes('/') || name === '.' || name === '..') throw new UsageError(`bad name ${JSON.stringify(name)}: a name has no /; use an absolute path instead`);
  return `${base}/${name}`;
}

/** The node kind for create's flags. */
export function kindOf(flags: { ephemeral?: boolean; sequential?: boolean; container?: boolean; ttl?: number }): NodeKind {
  const { ephemeral, sequential, container, ttl } = flags;
  if (container && (ephemeral || sequential || ttl !== undefined)) throw new UsageError('--container cannot be combined with --ephemeral, --sequential or --ttl');
  if (ephemeral && ttl !== undefined) throw new UsageError('--ttl is for persistent nodes, not with --ephemeral');
  if (container) return 'CONTAINER';
  if (ttl !== undefined) return sequential ? 'PERSISTENT_SEQUENTIAL_WITH_TTL' : 'PERSISTENT_WITH_TTL';
  if (ephemeral) return sequential ? 'EPHEMERAL_SEQUENTIAL' : 'EPHEMERAL';
  return sequential ? 'PERSISTENT_SEQUENTIAL' : 'PERSISTENT';
}

/**
 * Parses argv (without node and the script) into an invocation. Throws a CommanderError for
 * --help and --version (exitCode 0) and for usage errors (exitCode 2), after writing the message.
 */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = {}, output?: OutputConfiguration, version = '0.0.0'): Parsed {
  let invocation: Invocation | undefined;
  const set = (i: Invocation): void => {
    invocation = i;
  };

  const program = new Command('conclave')
    .description('Talk to a Conclave cluster: read and write nodes, watch them, take locks, run elections, manage members.')
    // -V only: --version is set's and rm's option.
    .version(version, '-V', 'print the version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .option('--endpoints <list>', `members to talk to, host:port,... (default: $CONCLAVE_ENDPOINTS or ${DEFAULT_ENDPOINTS})`)
    .option('--json', 'machine-readable output (one JSON value per line)', false)
    .addOption(new Option('--timeout <ms>', 'time to wait for each answer').argParser(integer('--timeout', 1)).default(15_000))
    .addOption(new Option('--session-timeout <ms>', 'session timeout asked for (lock, elect, watch)').argParser(integer('--session-timeout', 1)).default(10_000))
    .addHelpText(
      'after',
      `
Data is an argument, or - to read it from stdin. Paths are absolute.
${EXIT_CODES_HELP}

Examples:
  export CONCLAVE_ENDPOINTS=127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283
  conclave create /app/config '{"replicas": 3}'
  conclave get /app/config
  conclave set /app/config - --version 0 < config.json
  conclave ls -R /app
  conclave watch -R /app
  conclave lock deploy -- ./deploy.sh
  conclave cluster status --json`,
    );
  if (output) program.configureOutput(output);

  const command = (name: string, description: string, examples: string[]) =>
    program
      .command(name)
      .description(description)
      .addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);

  command('create', 'Create a node; prints the created path (with its sequence suffix for -s).', [
    'conclave create /app/config v1',
    'conclave create -e -s /workers/w- "$(hostname)"',
    'conclave create --ttl 60000 /tmp/lease-ish',
    'echo hello | conclave create /greeting -',
  ])
    .argument('<path>', 'node path', path)
    .argument('[data]', 'node data, or - for stdin (default: empty)')
    .option('-e, --ephemeral', 'deleted when this command ends (its session closes)')
    .option('-s, --sequential', 'append a 10-digit sequence number to the name')
    .option('-c, --container', 'deleted by the server once its last child is gone')
    .addOption(new Option('--ttl <ms>', 'deleted once unmodified and childless for this long').argParser(integer('--ttl', 1)))
    .action((p: string, d: string | undefined, o: { ephemeral?: boolean; sequential?: boolean; container?: boolean; ttl?: number }) =>
      set({ cmd: 'create', path: p, data: data(d), kind: kindOf(o), ttlMs: o.ttl ?? 0 }),
    );

  command('get', "Print a node's data (with --json: data, encoding and stat).", ['conclave get /app/config', 'conclave get --json /app/config'])
    .argument('<path>', 'node path', path)
    .action((p: string) => set({ cmd: 'get', path: p }));

  command('set', "Set a node's data, optionally only if its version is N.", ['conclave set /app/config v2', 'conclave set /app/config v3 --version 1', 'conclave set /app/config - < config.json'])
    .argument('<path>', 'node path', path)
    .argument('<data>', 'new data, or - for stdin')
    .addOption(new Option('--version <n>', 'only if the node is at this version (else exit 4)').argParser(integer('--version', -1)).default(-1, 'any'))
    .action((p: string, d: string, o: { version: number }) => set({ cmd: 'set', path: p, data: data(d), version: o.version }));

  command('stat', "Print a node's stat (ZooKeeper's fields).", ['conclave stat /app/config'])
    .argument('<path>', 'node path', path)
    .action((p: string) => set({ cmd: 'stat', path: p }));

  command('ls', "List a node's children; with -R, every path in its subtree.", ['conclave ls /', 'conclave ls -R /app'])
    .argument('<path>', 'node path', path)
    .option('-R, --recursive', 'the whole subtree, as full paths', false)
    .action((p: string, o: { recursive: boolean }) => set({ cmd: 'ls', path: p, recursive: o.recursive }));

  command('rm', 'Delete a node; with -r, its whole subtree.', ['conclave rm /app/config', 'conclave rm /app/config --version 3', 'conclave rm -r /app'])
    .argument('<path>', 'node path', path)
    .option('-r, --recursive', 'delete the subtree too', false)
    .addOption(new Option('--version <n>', 'only if the node is at this version (else exit 4)').argParser(integer('--version', -1)).default(-1, 'any'))
    .action((p: string, o: { recursive: boolean; version: number }) => {
      if (o.recursive && o.version !== -1) throw new UsageError('--version cannot be combined with -r');
      set({ cmd: 'rm', path: p, recursive: o.recursive, version: o.version });
    });

  command('watch', 'Print changes to a node (with -R, to its subtree) as they happen, until Ctrl-C.', ['conclave watch /app/config', 'conclave watch -R /app', 'conclave watch -R --json / | jq .path'])
    .argument('<path>', 'node path', path)
    .option('-R, --recursive', 'the whole subtree', false)
    .action((p: string, o: { recursive: boolean }) => set({ cmd: 'watch', path: p, recursive: o.recursive }));

  command('lock', 'Run a command while holding a lock; exits with the command\'s exit code. The command gets CONCLAVE_LOCK_PATH and CONCLAVE_FENCING_TOKEN.', [
    'conclave lock deploy -- ./deploy.sh --prod',
    'conclave lock /locks/db-migrate --wait 5000 -- npm run migrate',
  ])
    .argument('<name>', 'lock name (under /locks) or absolute path')
    .argument('<command...>', 'the command and its arguments (after --)')
    .addOption(new Option('--wait <ms>', 'give up (exit 4) if not acquired within this time').argParser(integer('--wait', 0)))
    .action((name: string, cmd: string[], o: { wait?: number }) => set({ cmd: 'lock', path: recipePath(name, '/locks'), command: cmd, waitMs: o.wait }));

  command('elect', 'Campaign in an election; print when elected (and if leadership is lost), hold it until Ctrl-C.', [
    'conclave elect scheduler',
    'conclave elect /elections/scheduler "$(hostname)"',
  ])
    .argument('<name>', 'election name (under /elections) or absolute path')
    .argument('[proposal]', 'what this candidate publishes (default host:pid)')
    .action((name: string, proposal: string | undefined) => set({ cmd: 'elect', path: recipePath(name, '/elections'), proposal }));

  const cluster = program
    .command('cluster')
    .description('Cluster administration: status, members, membership changes, leadership. Needs no quorum for status and members.')
    .addHelpText('after', '\nExamples:\n  conclave cluster status\n  conclave cluster add 4 10.0.0.4:2882 10.0.0.4:2281 && conclave cluster promote 4');
  const sub = (name: string, description: string, examples: string[]) =>
    cluster
      .command(name)
      .description(description)
      .addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
  const memberId = integer('member ID', 1, 65535);
  sub('status', "Every member's role, term, indexes and lag (exit 5 if a member cannot be reached).", ['conclave cluster status', 'conclave cluster status --json'])
    .action(() => set({ cmd: 'cluster status' }));
  sub('members', 'The member list: ids, addresses, voters and learners.', ['conclave cluster members'])
    .action(() => set({ cmd: 'cluster members' }));
  sub('add', 'Add a member as a learner; then start it with --join and promote it.', ['conclave cluster add 4 10.0.0.4:2882 10.0.0.4:2281'])
    .argument('<id>', 'new member id (1..65535, never used before)', memberId)
    .argument('<peer-addr>', "the member's peer address, host:port")
    .argument('[client-addr]', "the member's client address, host:port")
    .action((id: number, peer: string, client: string | undefined) => {
      parseEndpoints(peer);
      if (client) parseEndpoints(client);
      set({ cmd: 'cluster add', id, peerAddress: peer, clientAddress: client ?? '' });
    });
  sub('promote', 'Make a caught-up learner a voter.', ['conclave cluster promote 4'])
    .argument('<id>', 'member id', memberId)
    .action((id: number) => set({ cmd: 'cluster promote', id }));
  sub('remove', 'Remove a member for good (transfer leadership away from it first).', ['conclave cluster remove 2'])
    .argument('<id>', 'member id', memberId)
    .action((id: number) => set({ cmd: 'cluster remove', id }));
  sub('transfer', 'Move leadership to member ID (default: the most caught-up voter).', ['conclave cluster transfer', 'conclave cluster transfer 3'])
    .argument('[id]', 'member id', memberId)
    .action((id: number | undefined) => set({ cmd: 'cluster transfer', id: id ?? 0 }));

  const snapshot = program
    .command('snapshot')
    .description('Snapshots of the state.')
    .addHelpText('after', '\nExamples:\n  conclave snapshot save backup.snap');
  snapshot
    .command('save')
    .description("Save a member's latest snapshot to FILE (written whole or not at all).")
    .addHelpText('after', '\nExamples:\n  conclave snapshot save backup.snap\n  conclave --endpoints 10.0.0.2:2281 snapshot save member-2.snap')
    .argument('<file>', 'where to write it')
    .action((file: string) => set({ cmd: 'snapshot save', file }));

  const usage = (message: string): never => {
    (output?.writeErr ?? ((text: string) => process.stderr.write(text)))(`error: ${message}\n`);
    throw new CommanderError(EXIT.USAGE, 'conclave.usage', message);
  };
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) return usage((error as Error).message);
    if (error.exitCode !== 0) error.exitCode = EXIT.USAGE;
    throw error;
  }
  if (invocation === undefined) {
    program.outputHelp({ error: true });
    throw new CommanderError(EXIT.USAGE, 'conclave.noCommand', 'no command given');
  }
  const g = program.opts<{ endpoints?: string; json: boolean; timeout: number; sessionTimeout: number }>();
  let endpoints: string[] = [];
  try {
    endpoints = parseEndpoints(g.endpoints ?? env.CONCLAVE_ENDPOINTS);
  } catch (error) {
    usage((error as Error).message);
  }
  return { ...invocation, globals: { endpoints, json: g.json, timeoutMs: g.timeout, sessionTimeoutMs: g.sessionTimeout } };
}
