/** What the CLI prints: error lines, exit codes, stats, tables, JSON data. */
import assert from 'node:assert/strict';
import { BadVersionError, ConclaveError, NoNodeError, UnavailableError } from '@conclave/proto/errors';
import { EXIT } from '../src/cli/args.js';
import { errorLine, errorName, exitCodeFor, formatMembers, formatStat, formatStatus, jsonData, table } from '../src/cli/format.js';
import type { MemberStatus } from '../src/admin.js';

const status = (id: number, role: MemberStatus['role'], progress: MemberStatus['progress'] = []): MemberStatus => ({
  endpoint: `h${id}:2281`, memberId: id, role, leaderId: 1, term: 3, commitIndex: 10, appliedIndex: 9, lastIndex: 10, snapshotIndex: 0,
  clusterId: 'c', version: '0.1.0', znodeCount: 5, sessionCount: 2, progress,
});

describe('conclave CLI: output', () => {
  it('errors: one line with ZooKeeper\'s name for the code', () => {
    assert.equal(errorName('NO_NODE'), 'NoNode');
    assert.equal(errorName('NO_CHILDREN_FOR_EPHEMERALS'), 'NoChildrenForEphemerals');
    assert.equal(errorLine(new NoNodeError('no node at /x')), 'conclave: NoNode: no node at /x');
    assert.equal(errorLine(new Error('first line\nsecond')), 'conclave: first line');
    assert.equal(errorLine(Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' })), 'conclave: spawn x ENOENT');
  });

  it('exit codes by error class', () => {
    assert.equal(exitCodeFor(new NoNodeError('x')), EXIT.NOT_FOUND);
    assert.equal(exitCodeFor(new BadVersionError('x')), EXIT.CONFLICT);
    assert.equal(exitCodeFor(new ConclaveError('NODE_EXISTS', 'x')), EXIT.CONFLICT);
    assert.equal(exitCodeFor(new ConclaveError('NOT_EMPTY', 'x')), EXIT.CONFLICT);
    assert.equal(exitCodeFor(new ConclaveError('INVALID_PATH', 'x')), EXIT.USAGE);
    assert.equal(exitCodeFor(new UnavailableError('x')), EXIT.UNAVAILABLE);
    assert.equal(exitCodeFor(new ConclaveError('TIMEOUT', 'x')), EXIT.UNAVAILABLE);
    assert.equal(exitCodeFor(new ConclaveError('INTERNAL', 'x')), EXIT.GENERIC);
    assert.equal(exitCodeFor(new Error('x')), EXIT.GENERIC);
  });

  it('data in JSON: text when it is UTF-8, base64 otherwise', () => {
    assert.deepEqual(jsonData(Buffer.from('héllo')), { data: 'héllo', encoding: 'utf8' });
    assert.deepEqual(jsonData(Buffer.from([0xff, 0x00, 0x80])), { data: '/wCA', encoding: 'base64' });
  });

  it('stat lines in ZooKeeper\'s order', () => {
    const text = formatStat({ czxid: 5, mzxid: 7, pzxid: 5, ctime: 0, mtime: 1_700_000_000_000, version: 2, cversion: 0, aversion: 0, ephemeralOwner: 255, dataLength: 3, numChildren: 0 });
    assert.deepEqual(text.split('\n').map((l) => l.split(/\s+/)[0]), ['czxid', 'mzxid', 'pzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren']);
    assert.match(text, /mtime {10}2023-11-14T22:13:20\.000Z \(1700000000000\)/);
    assert.match(text, /ephemeralOwner 255 \(0xff\)/);
  });

  it('tables align columns; status rows take the lag from the leader and show the unreachable', () => {
    assert.equal(table(['A', 'LONGER'], [[1, 'x'], ['wide', 'y']]), 'A     LONGER\n1     x\nwide  y');
    const text = formatStatus([
      { endpoint: 'h1:2281', status: status(1, 'LEADER', [{ id: 1, matchIndex: 10, lag: 0, active: true }, { id: 2, matchIndex: 7, lag: 3, active: true }]) },
      { endpoint: 'h2:2281', status: status(2, 'FOLLOWER') },
      { endpoint: 'h3:2281', error: new UnavailableError('h3:2281: connect ECONNREFUSED') },
    ]);
    const lines = text.split('\n');
    assert.match(lines[0]!, /^ID\s+ENDPOINT\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+LAG/);
    assert.match(lines[2]!, /^2\s+h2:2281\s+FOLLOWER\s+3\s+1\s+10\s+9\s+3\s/);
    assert.match(lines[3]!, /^-\s+h3:2281\s+unreachable: Unavailable: h3:2281: connect ECONNREFUSED$/);
  });

  it('members: voters and learners, removed ids', () => {
    const text = formatMembers({ clusterId: 'abc', members: [{ id: 1, peerAddress: 'h1:2882', clientAddress: 'h1:2281', voter: true }, { id: 4, peerAddress: 'h4:2882', clientAddress: '', voter: false }], removedIds: [2] });
    assert.match(text, /^ID\s+ROLE\s+PEER\s+CLIENT\n1\s+voter\s+h1:2882\s+h1:2281\n4\s+learner\s+h4:2882\s+-\ncluster abc; removed ids: 2$/);
  });
});
