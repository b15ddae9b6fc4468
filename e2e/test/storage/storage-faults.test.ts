/**
 * Storage faults with real processes (reliability.md, "Storage"); the WAL's torn tails at every
 * offset and its mid-log corruption are covered at the storage level (server/test/storage) and in
 * e2e/test/durability. Here:
 * - a corrupt snapshot is refused at start-up with an error naming the file and offset, never
 *   skipped or truncated;
 * - a full disk (a real tmpfs, mounted by the test: needs root): the member refuses writes with
 *   UNAVAILABLE saying it cannot write its log, keeps serving reads, loses nothing acknowledged, and
 *   takes writes again once space returns; everything survives a kill -9 after that.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Conclave, ConclaveError } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { Tmpfs } from '../../harness/tmpfs.js';

function snapshotFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'snap');
  return readdirSync(dir).filter((f) => f.endsWith('.snap')).sort().map((f) => path.join(dir, f));
}

describe('storage faults with real processes', function () {
  this.timeout(120_000);

  describe('a corrupt snapshot is refused at start-up', () => {
    let cluster: TestCluster;
    let file: string;
    let original: Buffer;
    before(async () => {
      cluster = await TestCluster.start({ members: 1, settings: { snapshotCount: 50, logLevel: 'info' } });
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      for (let i = 0; i < 120; i++) await client.create(`/snap-${i}`, 'x'.repeat(200));
      await client.close();
      // The newest snapshot file must be complete (its marker in the log) before the kill: each member
      // snapshots after its own random share of snapshotCount, so one may have begun with the last writes,
      // and a file whose marker never made it to the log is not the one a restart loads.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const newest = path.basename(snapshotFiles(cluster.member(1).dataDir).at(-1) ?? '');
        const index = parseInt(newest.split('-')[1] ?? '', 16);
        if (new RegExp(`"index":${index},[^\\n]*"snapshot taken"`).test(cluster.logTail(1, 200))) break;
        assert.ok(Date.now() < deadline, `snapshot ${newest} not complete:\n${cluster.logTail(1, 10)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await cluster.kill(1);
      file = snapshotFiles(cluster.member(1).dataDir).at(-1)!;
      assert.ok(file, 'a snapshot was taken');
      original = readFileSync(file);
    });
    after(async () => cluster.stop());

    const corruptions: [string, (bytes: Buffer) => Buffer][] = [
      ['a flipped bit in a record', (b) => { b[Math.floor(b.length / 2)]! ^= 0x04; return b; }],
      ['a truncated file', (b) => b.subarray(0, Math.floor(b.length * 0.7))],
      ['a damaged header', (b) => { b[6]! ^= 0xff; return b; }],
    ];
    for (const [what, corrupt] of corruptions) {
      it(`${what}: exit code 1, the file named, nothing served`, async () => {
        writeFileSync(file, corrupt(Buffer.from(original)));
        await assert.rejects(cluster.restart(1), /exited/);
        assert.equal(cluster.member(1).process!.exitCode, 1);
        const log = cluster.logTail(1, 10);
        assert.match(log, new RegExp(path.basename(file).replace('.', '\\.')), 'the error names the snapshot file');
        assert.match(log, /snapshot/i);
      });
    }

    it('the same data dir starts again once the snapshot is intact', async () => {
      writeFileSync(file, original);
      await cluster.restart(1);
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      assert.equal((await client.get('/snap-119')).data.toString(), 'x'.repeat(200));
      await client.close();
    });
  });

  describe('a full disk (tmpfs)', () => {
    let dir: string;
    let tmpfs: Tmpfs;
    beforeEach(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-full-'));
      tmpfs = await Tmpfs.mount(path.join(dir, 'member-1'), 24);
    });
    afterEach(async () => {
      await tmpfs.unmount();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses writes with UNAVAILABLE, keeps serving reads, loses nothing, resumes when space returns', async () => {
      const cluster = await TestCluster.start({ members: 1, dir, settings: { logLevel: 'info' } });
      try {
        const client = await Conclave.connect({ endpoints: cluster.endpoints(), requestTimeoutMs: 5_000 });
        await client.create('/full');
        await tmpfs.settle();
        const filler = tmpfs.fill(2 * 1024 * 1024);
        const acked = new Map<string, string>();
        const errors: ConclaveError[] = [];
        const value = (i: number) => `${i}:`.padEnd(8 * 1024, 'x');
        let i = 0;
        for (; errors.length < 5 && i < 10_000; i++) {
          try {
            await client.create(`/full/n${i}`, value(i));
            acked.set(`/full/n${i}`, value(i));
            errors.length = 0;
          } catch (error) {
            errors.push(error as ConclaveError);
          }
        }
        assert.ok(acked.size > 50, `the disk took ${acked.size} writes before filling up: ${errors.map((e) => e.message).join(" | ")}`);
        assert.equal(errors.length, 5, 'writes kept succeeding on a full disk');
        for (const e of errors) assert.equal(e.code, 'UNAVAILABLE', `${e.code}: ${e.message}`);
        assert.ok(errors.some((e) => /cannot write its log/.test(e.message)), `a clear error: ${errors.map((e) => e.message).join(' | ')}`);
        assert.match(cluster.logTail(1, 50), /cannot write the log/);
        // Reads are still served, health says the process lives.
        assert.equal((await client.get('/full/n0')).data.toString(), value(0));
        const health = await fetch(`http://127.0.0.1:${cluster.member(1).metricsPort}/healthz`);
        assert.equal(health.status, 200);

        tmpfs.free(filler);
        const deadline = Date.now() + 30_000;
        for (;; i++) {
          try {
            await client.create(`/full/n${i}`, value(i));
            acked.set(`/full/n${i}`, value(i));
            break;
          } catch (error) {
            assert.ok(Date.now() < deadline, `no write succeeded within 30 s of freeing space: ${(error as Error).message}`);
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        assert.match(cluster.logTail(1, 50), /storage works again/);
        await client.close();

        await cluster.kill(1);
        await cluster.restart(1);
        const check = await Conclave.connect({ endpoints: cluster.endpoints() });
        for (const [p, v] of acked) assert.equal((await check.get(p)).data.toString(), v, `${p} after kill -9 and restart`);
        await check.close();
      } finally {
        await cluster.stop({ keepData: true });
      }
    });
  });
});

