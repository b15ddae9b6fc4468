/** The conclave CLI's argument parsing: every command into its invocation, and usage errors (exit 2). */
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { EXIT, kindOf, parseArgs, recipePath, type Parsed } from '../src/cli/args.js';

/** Parses quietly; usage output is collected instead of printed. */
function parse(argv: string[], env: NodeJS.ProcessEnv = {}): { parsed?: Parsed; error?: CommanderError; output: string } {
  let output = '';
  const sink = { writeOut: (s: string) => void (output += s), writeErr: (s: string) => void (output += s) };
  try {
    return { parsed: parseArgs(argv, env, sink, '1.2.3'), output };
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { error, output };
  }
}

const ok = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const { parsed, error, output } = parse(argv, env);
  assert.ok(parsed, `${argv.join(' ')}: ${error?.message} ${output}`);
  const { globals, ...invocation } = parsed;
  return { globals, invocation };
};

const usage = (argv: string[], pattern: RegExp) => {
  const { error, output } = parse(argv);
  assert.ok(error, `${argv.join(' ')} should be a usage error`);
  assert.equal(error.exitCode, EXIT.USAGE);
  assert.match(output, pattern);
};

describe('conclave CLI: arguments', () => {
  it('create: flags to node kinds, data from an argument, stdin (-) or empty', () => {
    assert.deepEqual(ok(['create', '/a', 'x']).invocation, { cmd: 'create', path: '/a', data: { from: 'argument', value: 'x' }, kind: 'PERSISTENT', ttlMs: 0 });
    assert.deepEqual(ok(['create', '-e', '-s', '/w-', '-']).invocation, { cmd: 'create', path: '/w-', data: { from: 'stdin' }, kind: 'EPHEMERAL_SEQUENTIAL', ttlMs: 0 });
    assert.deepEqual(ok(['create', '--ttl', '500', '-s', '/t']).invocation, { cmd: 'create', path: '/t', data: { from: 'argument', value: '' }, kind: 'PERSISTENT_SEQUENTIAL_WITH_TTL', ttlMs: 500 });
    assert.equal(ok(['create', '--container', '/c']).invocation.cmd, 'create');
    assert.equal((ok(['create', '-c', '/c']).invocation as { kind: string }).kind, 'CONTAINER');
    assert.equal((ok(['create', '--ephemeral', '/e']).invocation as { kind: string }).kind, 'EPHEMERAL');
  });

  it('node kinds: every combination', () => {
    assert.equal(kindOf({}), 'PERSISTENT');
    assert.equal(kindOf({ sequential: true }), 'PERSISTENT_SEQUENTIAL');
    assert.equal(kindOf({ ephemeral: true }), 'EPHEMERAL');
    assert.equal(kindOf({ ephemeral: true, sequential: true }), 'EPHEMERAL_SEQUENTIAL');
    assert.equal(kindOf({ ttl: 5 }), 'PERSISTENT_WITH_TTL');
    assert.equal(kindOf({ ttl: 5, sequential: true }), 'PERSISTENT_SEQUENTIAL_WITH_TTL');
    assert.equal(kindOf({ container: true }), 'CONTAINER');
    assert.throws(() => kindOf({ container: true, ephemeral: true }), /--container cannot/);
    assert.throws(() => kindOf({ ephemeral: true, ttl: 1 }), /--ttl is for persistent/);
  });

  it('get, set (with --version), stat, ls (-R), rm (-r, --version), watch (-R)', () => {
    assert.deepEqual(ok(['get', '/a']).invocation, { cmd: 'get', path: '/a' });
    assert.deepEqual(ok(['set', '/a', 'v', '--version', '3']).invocation, { cmd: 'set', path: '/a', data: { from: 'argument', value: 'v' }, version: 3 });
    assert.deepEqual(ok(['set', '/a', '-']).invocation, { cmd: 'set', path: '/a', data: { from: 'stdin' }, version: -1 });
    assert.deepEqual(ok(['stat', '/a']).invocation, { cmd: 'stat', path: '/a' });
    assert.deepEqual(ok(['ls', '/']).invocation, { cmd: 'ls', path: '/', recursive: false });
    assert.deepEqual(ok(['ls', '-R', '/a']).invocation, { cmd: 'ls', path: '/a', recursive: true });
    assert.deepEqual(ok(['rm', '/a', '--version', '0']).invocation, { cmd: 'rm', path: '/a', recursive: false, version: 0 });
    assert.deepEqual(ok(['rm', '-r', '/a']).invocation, { cmd: 'rm', path: '/a', recursive: true, version: -1 });
    assert.deepEqual(ok(['watch', '-R', '/a']).invocation, { cmd: 'watch', path: '/a', recursive: true });
    assert.deepEqual(ok(['watch', '/a']).invocation, { cmd: 'watch', path: '/a', recursive: false });
  });

  it('lock NAME -- COMMAND...: the command keeps its own options; names map under /locks', () => {
    assert.deepEqual(ok(['lock', 'deploy', '--', 'ls', '-la', '--version']).invocation, { cmd: 'lock', path: '/locks/deploy', command: ['ls', '-la', '--version'], waitMs: undefined });
    assert.deepEqual(ok(['lock', '--wait', '100', '/my/lock', '--', 'true']).invocation, { cmd: 'lock', path: '/my/lock', command: ['true'], waitMs: 100 });
    assert.deepEqual(ok(['lock', 'x', '--wait', '0', '--', 'sh', '-c', 'exit 3']).invocation, { cmd: 'lock', path: '/locks/x', command: ['sh', '-c', 'exit 3'], waitMs: 0 });
  });

  it('elect NAME [PROPOSAL]', () => {
    assert.deepEqual(ok(['elect', 'scheduler']).invocation, { cmd: 'elect', path: '/elections/scheduler', proposal: undefined });
    assert.deepEqual(ok(['elect', '/e/x', 'node-a']).invocation, { cmd: 'elect', path: '/e/x', proposal: 'node-a' });
    assert.equal(recipePath('a', '/base'), '/base/a');
    assert.throws(() => recipePath('a/b', '/base'), /has no \//);
  });

  it('cluster and snapshot commands', () => {
    assert.deepEqual(ok(['cluster', 'status']).invocation, { cmd: 'cluster status' });
    assert.deepEqual(ok(['cluster', 'members']).invocation, { cmd: 'cluster members' });
    assert.deepEqual(ok(['cluster', 'add', '4', 'h4:2882', 'h4:2281']).invocation, { cmd: 'cluster add', id: 4, peerAddress: 'h4:2882', clientAddress: 'h4:2281' });
    assert.deepEqual(ok(['cluster', 'add', '4', 'h4:2882']).invocation, { cmd: 'cluster add', id: 4, peerAddress: 'h4:2882', clientAddress: '' });
    assert.deepEqual(ok(['cluster', 'promote', '4']).invocation, { cmd: 'cluster promote', id: 4 });
    assert.deepEqual(ok(['cluster', 'remove', '2']).invocation, { cmd: 'cluster remove', id: 2 });
    assert.deepEqual(ok(['cluster', 'transfer']).invocation, { cmd: 'cluster transfer', id: 0 });
    assert.deepEqual(ok(['cluster', 'transfer', '3']).invocation, { cmd: 'cluster transfer', id: 3 });
    assert.deepEqual(ok(['snapshot', 'save', 'b.snap']).invocation, { cmd: 'snapshot save', file: 'b.snap' });
  });

  it('globals anywhere on the line: --endpoints over CONCLAVE_ENDPOINTS over the default; --json, --timeout', () => {
    assert.deepEqual(ok(['get', '/a']).globals, { endpoints: ['127.0.0.1:2281'], json: false, timeoutMs: 15_000, sessionTimeoutMs: 10_000 });
    assert.deepEqual(ok(['get', '/a'], { CONCLAVE_ENDPOINTS: 'a:1,b:2' }).globals.endpoints, ['a:1', 'b:2']);
    assert.deepEqual(ok(['--endpoints', 'c:3', 'get', '/a'], { CONCLAVE_ENDPOINTS: 'a:1' }).globals.endpoints, ['c:3']);
    assert.deepEqual(ok(['get', '--json', '/a', '--timeout', '500']).globals, { endpoints: ['127.0.0.1:2281'], json: true, timeoutMs: 500, sessionTimeoutMs: 10_000 });
    assert.equal(ok(['cluster', 'status', '--json']).globals.json, true);
  });

  it('usage errors exit 2 with a clear message', () => {
    usage(['get', 'relative/path'], /a path is absolute/);
    usage(['get'], /missing required argument 'path'/);
    usage(['set', '/a'], /missing required argument 'data'/);
    usage(['set', '/a', 'x', '--version', 'two'], /--version must be an integer/);
    usage(['rm', '-r', '/a', '--version', '1'], /--version cannot be combined with -r/);
    usage(['create', '-e', '--ttl', '10', '/a'], /--ttl is for persistent/);
    usage(['create', '--ttl', '0', '/a'], /--ttl must be an integer >= 1/);
    usage(['lock', 'x'], /missing required argument 'command'/);
    usage(['lock', 'a/b', '--', 'true'], /bad name/);
    usage(['cluster', 'promote', '0'], /member ID must be an integer in 1\.\.65535/);
    usage(['cluster', 'add', '4', 'nohostport'], /bad endpoint/);
    usage(['--endpoints', 'nope', 'get', '/a'], /bad endpoint "nope"/);
    usage(['frobnicate'], /unknown command 'frobnicate'/);
    usage([], /Usage: conclave/);
  });

  it('--help on every command shows examples and exits 0; the main help documents exit codes', () => {
    const commands = [['create'], ['get'], ['set'], ['stat'], ['ls'], ['rm'], ['watch'], ['lock'], ['elect'], ['cluster'], ['snapshot']];
    const subcommands = [['cluster', 'status'], ['cluster', 'members'], ['cluster', 'add'], ['cluster', 'promote'], ['cluster', 'remove'], ['cluster', 'transfer'], ['snapshot', 'save']];
    for (const argv of [...commands, ...subcommands]) {
      const { error, output } = parse([...argv, '--help']);
      assert.equal(error?.exitCode, 0, argv.join(' '));
      assert.match(output, /Examples:\n {2}conclave /, argv.join(' '));
    }
    const { output } = parse(['--help']);
    assert.match(output, /Exit codes:[\s\S]*3 {2}not found[\s\S]*5 {2}unavailable/);
    assert.equal(parse(['-V']).output.trim(), '1.2.3');
  });
});
