/**
 * Durability with real processes: kill -9 under a write load loses no acknowledged write and
 * duplicates none; a torn WAL tail recovers; a flipped bit in the middle of the log is refused with
 * an error naming the file and offset.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Conclave } from '@conclave/client';
import { TestCluster } from '../../harness/cluster.js';
import { createLoadRoot, verifyLoad, writeLoad } from '../../harness/workload.js';

const SEED = Number(process.env.DURABILITY_SEED ?? Date.now() % 100_000);

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * The segment as a crash in the middle of writing its last record leaves it: in a preallocated
 * segment (zeros past the data) the record's last bytes are still zeros; otherwise the file ends early.
 */
function torn(content: Buffer, end: number, cut: number): Buffer {
  if (end === content.length) return content.subarray(0, end - cut);
  const copy = Buffer.from(content);
  copy.fill(0, end - cut, end);
  return copy;
}

function walFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'wal');
  return readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => path.join(dir, f));
}

describe(`durability with real processes (seed ${SEED}; DURABILITY_SEED=${SEED} replays it)`, function () {
  this.timeout(120_000);

  it('kill -9 at random moments under load: every acknowledged write survives, none appears twice', async () => {
    const random = rng(SEED);
    const cluster = await TestCluster.start({ members: 1, settings: { snapshotCount: 300, snapshotCatchUpEntries: 50 } });
    try {
      await createLoadRoot(cluster.endpoints());
      const load = writeLoad(cluster.endpoints(), 4);
      for (let round = 0; round < 4; round++) {
        await new Promise((r) => setTimeout(r, 300 + random() * 700));
        await cluster.kill(1);
        await cluster.restart(1);
      }
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      assert.ok(load.acked.size > 50, `the load made progress (${load.acked.size} acknowledged)`);
      await verifyLoad(cluster.endpoints(), load.acked);
    } finally {
      await cluster.stop();
    }
  });

  it('a torn last WAL record is dropped and everything acknowledged before it recovers', async () => {
    const cluster = await TestCluster.start({ members: 1 });
    try {
      let client = await Conclave.connect({ endpoints: cluster.endpoints() });
      for (let i = 0; i < 20; i++) await client.create(`/torn-${i}`, String(i));
      await client.close();
      await cluster.kill(1);
      // Each cut starts again from the log as the kill left it: a restart appends to the log (and
      // may move on to a new segment), and only the last record of the last segment can be torn.
      const walDir = path.join(cluster.member(1).dataDir, 'wal');
      const atKill = new Map(walFiles(cluster.member(1).dataDir).map((file) => [file, readFileSync(file)]));
      const wal = [...atKill.keys()].at(-1)!;
      const bytes = atKill.get(wal)!;
      // Find where the data ends (segments may be preallocated with zeros).
      let end = bytes.length;
      while (end > 0 && bytes[end - 1] === 0) end--;
      for (const cut of [1, 5, 17]) {
        for (const file of readdirSync(walDir).map((f) => path.join(walDir, f))) {
          if (!atKill.has(file)) rmSync(file);
        }
        for (const [file, content] of atKill) writeFileSync(file, file === wal ? torn(content, end, cut) : content);
        await cluster.restart(1);
        client = await Conclave.connect({ endpoints: cluster.endpoints() });
        for (let i = 0; i < 19; i++) assert.equal((await client.get(`/torn-${i}`)).data.toString(), String(i), `cut ${cut}: /torn-${i}`);
        await client.close();
        await cluster.kill(1);
      }
    } finally {
      await cluster.stop();
    }
  });

  it('a flipped bit in the middle of the log is refused with the file and offset named', async () => {
    const cluster = await TestCluster.start({ members: 1 });
    try {
      const client = await Conclave.connect({ endpoints: cluster.endpoints() });
      for (let i = 0; i < 50; i++) await client.create(`/flip-${i}`, 'x'.repeat(100));
      await client.close();
      await cluster.kill(1);
      const wal = walFiles(cluster.member(1).dataDir)[0]!;
      const bytes = readFileSync(wal);
      let end = bytes.length;
      while (end > 0 && bytes[end - 1] === 0) end--;
      const offset = Math.floor(end / 2);
      bytes[offset] = bytes[offset]! ^ 0x10;
      writeFileSync(wal, bytes);
      await assert.rejects(cluster.restart(1), /exited/);
      assert.equal(cluster.member(1).process!.exitCode, 1);
      const log = cluster.logTail(1, 10);
      assert.match(log, new RegExp(path.basename(wal)));
      assert.match(log, /offset/);
    } finally {
      await cluster.stop();
    }
  });
});
