/**
 * The `conclave` CLI, run for real (node client/dist/src/cli/main.js) against a real 3-member
 * cluster: every subcommand, human and --json output, data from stdin, long-running commands
 * stopped with Ctrl-C, and bad input answered with a one-line message and the documented exit code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { TestCluster, freePort } from '../../harness/cluster.js';
import { CLI_BIN, conclave as run, start, type CliOptions, type Running } from '../../harness/cli.js';
import { waitFor } from '../../harness/checks.js';

describe('conclave CLI (real command, real 3-member cluster)', function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let client: Conclave;
  let tmp: string;
  let n = 0;
  const unique = () => `/cli${++n}`;
  const conclave = (args: string[], options: CliOptions = {}) => run(args, { endpoints: cluster.endpoints(), ...options });
  /** Long-running commands, stopped after each test whatever happened. */
  const running: Running[] = [];
  const launch = (args: string[]) => {
    const child = start(args, { endpoints: cluster.endpoints() });
    running.push(child);
    return child;
  };
  const json = <T>(stdout: string): T => JSON.parse(stdout) as T;

  before(async () => {
    cluster = await TestCluster.start({ members: 3 });
    client = await Conclave.connect({ endpoints: cluster.endpoints() });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'conclave-cli-'));
  });
  afterEach(async () => {
    for (const child of running.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      // A command it ran may hold its output open a while longer: do not wait for that.
      await Promise.race([child.done, new Promise((r) => setTimeout(r, 2_000))]);
    }
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('create, get, set, stat, ls, rm: human output', async () => {
    const p = unique();
    assert.deepEqual(await conclave(['create', p, 'v1']), { code: 0, stdout: `${p}\n`, stderr: '' });
    assert.deepEqual(await conclave(['get', p]), { code: 0, stdout: 'v1\n', stderr: '' });
    assert.deepEqual(await conclave(['set', p, 'v2', '--version', '0']), { code: 0, stdout: '', stderr: '' });
    const stat = await conclave(['stat', p]);
    assert.equal(stat.code, 0);
    assert.match(stat.stdout, /^czxid +\d+\nmzxid +\d+\n[\s\S]*\nversion +1\n[\s\S]*dataLength +2\nnumChildren +0\n$/);
    await Promise.all([conclave(['create', `${p}/b`]), conclave(['create', `${p}/a`, 'x'])]);
    assert.equal((await conclave(['ls', p])).stdout, 'a\nb\n');
    assert.deepEqual(await conclave(['rm', `${p}/a`]), { code: 0, stdout: '', stderr: '' });
    assert.equal((await conclave(['ls', p])).stdout, 'b\n');
  });

  it('--json output of every data command', async () => {
    const p = unique();
    assert.deepEqual(json((await conclave(['--json', 'create', p, 'héllo'])).stdout), { path: p });
    const got = json<{ path: string; data: string; encoding: string; stat: { version: number; dataLength: number } }>((await conclave(['get', p, '--json'])).stdout);
    assert.deepEqual([got.path, got.data, got.encoding, got.stat.version, got.stat.dataLength], [p, 'héllo', 'utf8', 0, 6]);
    const set = json<{ stat: { version: number } }>((await conclave(['set', '--json', p, 'x'])).stdout);
    assert.equal(set.stat.version, 1);
    assert.equal(json<{ stat: { version: number } }>((await conclave(['stat', '--json', p])).stdout).stat.version, 1);
    await conclave(['create', `${p}/c`]);
    assert.deepEqual(json((await conclave(['ls', '--json', p])).stdout), { path: p, children: ['c'] });
    assert.deepEqual(json((await conclave(['ls', '-R', '--json', p])).stdout), { path: p, paths: [p, `${p}/c`] });
    assert.deepEqual(json((await conclave(['rm', '-r', '--json', p])).stdout), { path: p, deleted: 2 });
    await client.create(p, Buffer.from([0xff, 0x00]));
    assert.deepEqual(json<{ data: string; encoding: string }>((await conclave(['get', '--json', p])).stdout), { path: p, data: '/wA=', encoding: 'base64', stat: json<{ stat: unknown }>((await conclave(['stat', '--json', p])).stdout).stat });
  });

  it('create flags: -e (gone when the command ends), -s, -c, --ttl; data from stdin with -', async () => {
    const p = unique();
    await conclave(['create', p]);
    await conclave(['create', `${p}/seq`]);
    const [eph, seq1, seq2, container, ttl] = await Promise.all([
      conclave(['create', '-e', `${p}/e`]),
      conclave(['create', '-s', `${p}/seq/s-`]),
      conclave(['create', '--sequential', `${p}/seq/s-`]),
      conclave(['create', '-c', `${p}/c`]),
      conclave(['create', '--ttl', '60000', `${p}/t`]),
    ]);
    assert.equal(eph.stdout, `${p}/e\n`);
    assert.deepEqual([seq1.stdout, seq2.stdout].sort(), [`${p}/seq/s-0000000000\n`, `${p}/seq/s-0000000001\n`]);
    assert.equal(await client.exists(`${p}/e`, { linearizable: true }), null, 'the ephemeral node went with the CLI session');
    assert.deepEqual([container.code, ttl.code], [0, 0]);
    assert.equal((await client.exists(`${p}/t`))?.ephemeralOwner, 0);
    assert.ok(await client.exists(`${p}/c`));
    assert.equal((await conclave(['create', `${p}/in`, '-'], { input: 'from stdin\n' })).code, 0);
    assert.equal((await client.get(`${p}/in`)).data.toString(), 'from stdin\n');
    assert.equal((await conclave(['set', `${p}/in`, '-'], { input: Buffer.from([1, 2, 3]) })).code, 0);
    assert.deepEqual([...(await client.get(`${p}/in`)).data], [1, 2, 3]);
    assert.equal((await conclave(['get', `${p}/in`])).stdout, '\u0001\u0002\u0003\n');
  });

  it('ls -R and rm -r walk the subtree', async () => {
    const p = unique();
    for (const q of [p, `${p}/a`, `${p}/a/x`, `${p}/b`]) await client.create(q);
    assert.equal((await conclave(['ls', '-R', p])).stdout, `${p}\n${p}/a\n${p}/a/x\n${p}/b\n`);
    assert.deepEqual(await conclave(['rm', '-r', p]), { code: 0, stdout: '', stderr: '' });
    assert.equal(await client.exists(p, { linearizable: true }), null);
  });

  it('bad input: clear one-line message and the documented exit code', async () => {
    const p = unique();
    await client.create(p, 'x');
    await client.create(`${p}/child`);
    await client.create(`${p}/eph`, '', { kind: 'EPHEMERAL' });
    const cases: [string[], number, RegExp][] = [
      [['get', `${p}/missing`], 3, /^conclave: NoNode: no node at \/cli\d+\/missing\n$/],
      [['stat', '/nope/nope'], 3, /^conclave: NoNode: no node at \/nope\/nope\n$/],
      [['rm', '-r', '/nope'], 3, /^conclave: NoNode: /],
      [['set', p, 'y', '--version', '7'], 4, /^conclave: BadVersion: version of \/cli\d+ is 0, not 7\n$/],
      [['rm', p, '--version', '3'], 4, /^conclave: BadVersion: /],
      [['create', p], 4, /^conclave: NodeExists: \/cli\d+ already exists\n$/],
      [['rm', p], 4, /^conclave: NotEmpty: \/cli\d+ has children\n$/],
      [['create', `${p}/eph/x`], 4, /^conclave: NoChildrenForEphemerals: /],
      [['get', 'relative'], 2, /^error: .*a path is absolute/],
      [['create', `${p}//double`], 2, /^conclave: InvalidPath: path has an empty segment/],
      [['create', '/conclave/x'], 1, /^conclave: PermissionDenied: /],
      [['set', p], 2, /missing required argument 'data'/],
      [['lock', 'x'], 2, /missing required argument 'command'/],
      [['cluster', 'remove', 'abc'], 2, /member ID must be an integer/],
      [['bogus'], 2, /unknown command 'bogus'/],
      [['cluster', 'remove', '99'], 3, /^conclave: NoNode: member 99 is not in the cluster\n$/],
      [['cluster', 'promote', '1'], 2, /^conclave: InvalidArgument: member 1 is already a voter\n$/],
    ];
    const results = await Promise.all(cases.map(([args]) => conclave(args)));
    results.forEach((r, i) => {
      const [args, code, pattern] = cases[i]!;
      assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    });
    const port = await freePort();
    const down = await run(['--timeout', '1000', 'get', '/'], { endpoints: `127.0.0.1:${port}` });
    assert.equal(down.code, 5);
    assert.match(down.stderr, new RegExp(`^conclave: Unavailable: cannot connect to 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\)\\n$`));
    const badEndpoints = await run(['get', '/'], { endpoints: 'no-port' });
    assert.deepEqual([badEndpoints.code, badEndpoints.stderr], [2, 'error: bad endpoint "no-port": expected host:port\n']);
  });

  it('watch [-R]: prints each change as it happens until Ctrl-C, then exits 0', async () => {
    const p = unique();
    await client.create(p);
    // Every member has applied the create before the watches start, so none reports it.
    const { commitIndex } = (await cluster.status(await cluster.leader()))!;
    await waitFor(async () => (await Promise.all([1, 2, 3].map((id) => cluster.status(id)))).every((s) => s !== undefined && s.appliedIndex >= commitIndex), 10_000, 'all applied');
    const human = launch(['watch', '-R', p]);
    const machine = launch(['watch', '--json', p]);
    await waitFor(() => human.err.includes('watching') && machine.err.includes('watching'), 30_000, 'watches set');
    await client.create(`${p}/a`, '1');
    await client.set(`${p}/a`, '2');
    await client.set(p, 'x');
    await client.delete(`${p}/a`);
    await waitFor(() => human.out.split('\n').length > 4 && machine.out.split('\n').length > 3, 30_000, 'events printed');
    human.kill('SIGINT');
    machine.kill('SIGINT');
    const [h, m] = await Promise.all([human.done, machine.done]);
    assert.equal(h.code, 0);
    assert.deepEqual(h.stdout.trim().split('\n').map((l) => l.replace(/ zxid=\d+$/, '')), [`NODE_CREATED ${p}/a`, `NODE_DATA_CHANGED ${p}/a`, `NODE_DATA_CHANGED ${p}`, `NODE_DELETED ${p}/a`]);
    assert.equal(m.code, 0);
    const events = m.stdout.trim().split('\n').map((l) => json<{ type: string; path: string; zxid: number }>(l));
    assert.deepEqual(events.map((e) => `${e.type} ${e.path}`), [`NODE_CHILDREN_CHANGED ${p}`, `NODE_DATA_CHANGED ${p}`, `NODE_CHILDREN_CHANGED ${p}`]);
    assert.ok(events[0]!.zxid < events[1]!.zxid && events[1]!.zxid < events[2]!.zxid);
  });

  it('lock NAME -- COMMAND: one holder at a time, the fencing token in the environment, the command\'s exit code', async () => {
    const name = `l${++n}`;
    const log = path.join(tmp, `${name}.log`);
    // Each holder logs enter and exit around a pause; overlapping holders would interleave.
    const script = `echo "enter $CONCLAVE_FENCING_TOKEN" >> ${log}; sleep 0.2; echo "exit $CONCLAVE_FENCING_TOKEN" >> ${log}; exit 3`;
    const results = await Promise.all([1, 2, 3].map(() => conclave(['lock', name, '--', 'sh', '-c', script])));
    assert.deepEqual(results.map((r) => r.code), [3, 3, 3]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines.length, 6);
    const tokens: number[] = [];
    for (let i = 0; i < 6; i += 2) {
      const [enter, exit] = [lines[i]!.split(' '), lines[i + 1]!.split(' ')];
      assert.deepEqual([enter[0], exit[0], enter[1]], ['enter', 'exit', exit[1]], lines.join(' | '));
      tokens.push(Number(enter[1]));
    }
    assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens ${tokens}`);
    const env = await conclave(['lock', `/locks/${name}`, '--', 'sh', '-c', 'echo "$CONCLAVE_LOCK_PATH"']);
    assert.deepEqual([env.code, env.stdout], [0, `/locks/${name}\n`]);
    assert.deepEqual(await client.getChildren(`/locks/${name}`).catch(() => []), [], 'no lock node left behind');
  });

  it('lock --wait gives up with exit 4 while another holds it; Ctrl-C stops the command and releases', async () => {
    const name = `l${++n}`;
    const holder = launch(['lock', name, '--', 'sh', '-c', 'echo held; exec sleep 30']);
    await waitFor(() => holder.out.includes('held'), 30_000, 'lock held');
    const blocked = await conclave(['lock', name, '--wait', '200', '--', 'true']);
    assert.deepEqual([blocked.code, blocked.stderr], [4, `conclave: /locks/${name} is held by another; not acquired within 200 ms\n`]);
    const missing = await conclave(['lock', `${name}-other`, '--', 'no-such-command-anywhere']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /cannot run no-such-command-anywhere/);
    holder.kill('SIGINT');
    const r = await holder.done;
    assert.equal(r.code, 130, 'the command was interrupted');
    assert.equal((await conclave(['lock', name, '--wait', '5000', '--', 'true'])).code, 0, 'released');
  });

  it('elect: prints when elected, hands over when the leader stops (Ctrl-C resigns)', async () => {
    const name = `e${++n}`;
    const a = launch(['elect', name, 'alpha']);
    await waitFor(() => a.out.includes('elected'), 30_000, 'alpha elected');
    const b = launch(['--json', 'elect', name, 'beta']);
    await waitFor(() => b.out.includes('campaigning'), 30_000, 'beta campaigning');
    assert.deepEqual(json(b.out.trim()), { event: 'campaigning', path: `/elections/${name}`, leader: 'alpha' });
    a.kill('SIGINT');
    await waitFor(() => b.out.includes('elected'), 30_000, 'beta elected');
    const ra = await a.done;
    assert.equal(ra.code, 0);
    assert.match(ra.stdout, new RegExp(`^campaigning for /elections/${name}; leader: none\\nelected: /elections/${name} \\(fencing token (\\d+)\\)\\nresigned\\n$`));
    const elected = json<{ event: string; token: number }>(b.out.trim().split('\n')[1]!);
    assert.equal(elected.event, 'elected');
    assert.ok(elected.token > Number(/fencing token (\d+)/.exec(ra.stdout)![1]));
    b.kill('SIGTERM');
    assert.equal((await b.done).code, 0);
  });

  it('cluster status and members, human and --json', async () => {
    const [human, machine, members, membersJson] = await Promise.all([
      conclave(['cluster', 'status']),
      conclave(['cluster', 'status', '--json']),
      conclave(['cluster', 'members']),
      conclave(['--json', 'cluster', 'members']),
    ]);
    assert.equal(human.code, 0);
    const rows = human.stdout.trim().split('\n');
    assert.match(rows[0]!, /^ID\s+ENDPOINT\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+LAG\s+ZNODES\s+SESSIONS$/);
    assert.equal(rows.length, 4);
    assert.deepEqual(rows.slice(1).map((r) => r.split(/\s+/)[2]).sort(), ['FOLLOWER', 'FOLLOWER', 'LEADER']);
    const statuses = json<{ memberId: number; role: string; leaderId: number }[]>(machine.stdout);
    assert.deepEqual(statuses.map((s) => s.memberId).sort(), [1, 2, 3]);
    assert.equal(new Set(statuses.map((s) => s.leaderId)).size, 1);
    assert.match(members.stdout, /^ID\s+ROLE\s+PEER\s+CLIENT\n1\s+voter\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\n2\s+voter[\s\S]*\ncluster [0-9a-f]+\n$/);
    assert.deepEqual(json<{ members: { id: number; voter: boolean }[] }>(membersJson.stdout).members.map((m) => [m.id, m.voter]), [[1, true], [2, true], [3, true]]);
  });

  it('cluster status exits 5 and shows the member that cannot be reached', async () => {
    const leader = await cluster.leader();
    const down = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.kill(down);
    try {
      const r = await conclave(['cluster', 'status']);
      assert.equal(r.code, 5);
      assert.match(r.stdout, new RegExp(`\\n-\\s+127\\.0\\.0\\.1:${cluster.member(down).clientPort}\\s+unreachable: Unavailable: `));
    } finally {
      await cluster.restart(down);
    }
  });

  it('snapshot save, cluster transfer, add (a real member), promote, remove', async () => {
    // Taken on the leader: it is the member that brings the new member up to date below. (Server
    // bug, reported: a joiner does not catch up from a leader that has never taken a snapshot.)
    const leaderEndpoint = cluster.endpoints([await cluster.leader()]);
    const file = path.join(tmp, 'backup.snap');
    const saved = await conclave(['snapshot', 'save', file], { endpoints: leaderEndpoint });
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, new RegExp(`^saved ${file}: (\\d+) bytes from ${leaderEndpoint}\\n$`));
    assert.equal(statSync(file).size, Number(/: (\d+) bytes/.exec(saved.stdout)![1]));
    const again = json<{ file: string; bytes: number }>((await conclave(['--json', 'snapshot', 'save', file])).stdout);
    assert.ok(again.bytes > 0 && again.file === file);
    const refused = await conclave(['snapshot', 'save', path.join(tmp, 'no/such/dir/x.snap')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^conclave: ENOENT: no such file or directory/);

    const leader = await cluster.leader();
    const target = [1, 2, 3].find((id) => id !== leader)!;
    assert.deepEqual(await conclave(['cluster', 'transfer', String(target)]), { code: 0, stdout: `leader: ${target}\n`, stderr: '' });
    assert.equal(await cluster.leader(), target);
    const back = await conclave(['--json', 'cluster', 'transfer', String(leader)]);
    assert.deepEqual(json(back.stdout), { leaderId: leader });

    const spec = { id: 4, clientPort: await freePort(), peerPort: await freePort(), metricsPort: await freePort(), dataDir: path.join(cluster.dir, 'member-4'), logFile: path.join(cluster.dir, 'member-4.log'), process: undefined, exited: undefined };
    cluster.members.set(4, spec);
    const added = await conclave(['cluster', 'add', '4', `127.0.0.1:${spec.peerPort}`, `127.0.0.1:${spec.clientPort}`]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /\n4\s+learner\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\n[\s\S]*added 4 as a learner/);
    await cluster.launch(spec, { join: true });
    await cluster.waitReady([4]);
    let promoted;
    for (let attempt = 0; attempt < 20; attempt++) {
      promoted = await conclave(['cluster', 'promote', '4']);
      if (promoted.code !== 5) break;
      assert.match(promoted.stderr, /^conclave: Unavailable: learner 4 has not caught up yet/);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(promoted!.code, 0, promoted!.stderr);
    assert.match(promoted!.stdout, /\n4\s+voter\s/);
    const removed = await conclave(['--json', 'cluster', 'remove', '4']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(json<{ removedIds: number[] }>(removed.stdout).removedIds, [4]);
    await cluster.kill(4);
    cluster.members.delete(4);
  });

  it('the package bin (what npx conclave runs) and --help', async () => {
    const version = await run(['-V'], { entry: CLI_BIN });
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const help = await run(['lock', '--help'], { entry: CLI_BIN });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: conclave lock \[options\] <name> <command\.\.\.>[\s\S]*Examples:/);
  });
});
