#!/usr/bin/env node
// Micro-benchmark of the WAL's group commit: appends/s and fdatasync/s for 1, 10 and 100 concurrent
// appenders of one 150-byte entry each, with and without preallocation of the next segment.
// A measurement tool, never a test assertion. Build first: `npm run build`, then
//   node server/scripts/bench-storage.mjs [--seconds 3] [--dir /path/on/the/disk/to/measure]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Wal, nodeFs } from '../dist/src/storage/index.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, dir: { type: 'string', default: tmpdir() } },
});
const seconds = Number(values.seconds);
const ENTRY_BYTES = 150;
const SEGMENT_BYTES = 64 * 1024 * 1024;

/** nodeFs, counting syncs on segment files: fdatasync calls and O_DSYNC writes. */
function countingFs() {
  const counts = { datasyncs: 0 };
  const fs = {
    ...nodeFs,
    async open(path, flags) {
      const file = await nodeFs.open(path, flags);
      return {
        durableWrites: file.durableWrites,
        read: (...args) => file.read(...args),
        async writev(...args) {
          const written = await file.writev(...args);
          if (file.durableWrites) counts.datasyncs++;
          return written;
        },
        truncate: (length) => file.truncate(length),
        size: () => file.size(),
        close: () => file.close(),
        datasync() {
          counts.datasyncs++;
          return file.datasync();
        },
      };
    },
  };
  return { fs, counts };
}

async function measure(appenders, preallocate) {
  const dir = await mkdtemp(join(values.dir, 'conclave-bench-'));
  const { fs, counts } = countingFs();
  const { wal } = await Wal.open(dir, { fs, preallocate, segmentBytes: SEGMENT_BYTES });
  let next = 1;
  const data = new Uint8Array(ENTRY_BYTES).fill(7);
  const append = (count) => {
    const entries = [];
    for (let i = 0; i < count; i++) entries.push({ term: 1, index: next++, type: 0, data });
    return wal.append(entries);
  };
  // Warm up into the second segment, so that (with preallocation) the measured one was preallocated.
  const big = new Uint8Array(1024 * 1024);
  while (wal.segmentPaths().length < 2) await wal.append([{ term: 1, index: next++, type: 0, data: big }]);
  await append(1);

  const latencies = [];
  const syncs0 = counts.datasyncs;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let appends = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await append(1);
      latencies.push(performance.now() - t0);
      appends++;
    }
  };
  await Promise.all(Array.from({ length: appenders }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const syncs = counts.datasyncs - syncs0;
  await wal.close();
  await rm(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))].toFixed(3);
  return {
    appenders,
    preallocate,
    appendsPerSec: Math.round(appends / elapsed),
    fdatasyncsPerSec: Math.round(syncs / elapsed),
    appendsPerSync: (appends / syncs).toFixed(1),
    p50ms: pct(0.5),
    p99ms: pct(0.99),
  };
}

console.log(`node ${process.version}, ${seconds} s per row, ${ENTRY_BYTES}-byte entries, one entry per append, WAL in ${values.dir}`);
const rows = [];
for (const preallocate of [true, false]) {
  for (const appenders of [1, 10, 100]) rows.push(await measure(appenders, preallocate));
}
console.table(rows);
