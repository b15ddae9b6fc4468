/**
 * The linearizability checker itself (e2e/checker, Porcupine): its Go model tests pass, and the
 * harness gets the right verdicts back for small histories, with the HTML visualisation of an
 * illegal one kept. The first run builds the checker (Go and the Go module proxy are needed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CHECKER_SOURCE, checkHistories, checkerBinary, writeHistory } from '../../nemesis/checker.js';
import { History } from '../../nemesis/history.js';
import type { RegisterInput, RegisterOutput } from '../../nemesis/workloads/register.js';

const run = promisify(execFile);

describe('linearizability checker (Porcupine)', function () {
  this.timeout(600_000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-checker-'));
    await checkerBinary();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes its own model tests (register, set, counter, queue, bank)', async () => {
    await run('go', ['test', './...'], { cwd: CHECKER_SOURCE, timeout: 300_000 });
  });

  /** A register history: process 0 writes "a" (acknowledged), then process 1 reads `seen`. */
  function registerHistory(seen: string, version: number): History<RegisterInput, RegisterOutput> {
    const h = new History<RegisterInput, RegisterOutput>('register');
    const write = h.invoke(0, 'write', { key: 'k', op: 'write', value: 'a' });
    h.ok(write, { version: 1 });
    const read = h.invoke(1, 'read', { key: 'k', op: 'read' });
    h.ok(read, { value: seen, version });
    const unknown = h.invoke(2, 'write', { key: 'k', op: 'write', value: 'b' });
    h.info(unknown, new Error('connection lost'));
    return h;
  }

  it('says Ok for a linearizable history, with unknown outcomes', async () => {
    const file = path.join(dir, 'good.json');
    writeHistory(file, 'register', registerHistory('a', 1));
    const [verdict] = await checkHistories([file]);
    assert.equal(verdict!.result, 'Ok');
    assert.equal(verdict!.operations, 3);
    assert.equal(verdict!.unknown, 1);
  });

  it('says Illegal for a stale read, and keeps the visualisation', async () => {
    const file = path.join(dir, 'stale.json');
    writeHistory(file, 'register', registerHistory('0', 0));
    const [verdict] = await checkHistories([file]);
    assert.equal(verdict!.result, 'Illegal');
    assert.ok(verdict!.visualization && existsSync(verdict!.visualization), `visualisation at ${verdict!.visualization}`);
  });

  it('reports a history it cannot read', async () => {
    const file = path.join(dir, 'bad.json');
    writeHistory(file, 'no-such-model', new History('x'));
    const [verdict] = await checkHistories([file]);
    assert.match(verdict!.error ?? '', /unknown model/);
  });
});
