#!/usr/bin/env node
/**
 * A nemesis run from the command line (the long runs, or replaying a seed):
 *
 *   node e2e/dist/nemesis/cli.js [--members 3|5] [--seconds 60] [--seed N] [--faults kill-leader,one-way,...]
 *                                [--hold 1000-5000] [--gap 500-2500] [--compact] [--keep]
 *
 * --compact: snapshots every 2,000 entries and logs compacted down to 500 behind (lagging members
 * then catch up by snapshot), as the 5-member test run does.
 *
 * Prints the fault log as it goes and the report at the end; exits 1 when a check failed (the
 * cluster dir with logs, data, histories and Porcupine's visualisation is then kept).
 */
import { ALL_FAULTS, type FaultKind } from './nemesis.js';
import { formatReport, runNemesis } from './run.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function range(name: string): [number, number] | undefined {
  const value = arg(name);
  if (value === undefined) return undefined;
  const [min, max] = value.split('-').map(Number);
  if (!Number.isInteger(min) || !Number.isInteger(max)) throw new Error(`--${name} wants min-max in ms, not ${value}`);
  return [min!, max!];
}

const faults = arg('faults')?.split(',') as FaultKind[] | undefined;
for (const f of faults ?? []) if (!ALL_FAULTS.includes(f)) throw new Error(`unknown fault ${f}; known: ${ALL_FAULTS.join(', ')}`);
const seed = arg('seed') !== undefined ? Number(arg('seed')) : Math.floor(Math.random() * 2 ** 31);
const members = Number(arg('members') ?? 3);
const seconds = Number(arg('seconds') ?? 60);
console.log(`nemesis: seed ${seed}, ${members} members, ${seconds} s (replay with --seed ${seed})`);
process.env.NEMESIS_VERBOSE ??= '1';
const report = await runNemesis({
  members,
  seconds,
  seed,
  faults,
  holdMs: range('hold'),
  gapMs: range('gap'),
  settings: process.argv.includes('--compact') ? { snapshotCount: 2_000, snapshotCatchUpEntries: 500 } : undefined,
  keep: process.argv.includes('--keep'),
  log: (line) => console.log(`  ${line}`),
});
console.log(formatReport(report));
process.exit(report.ok ? 0 : 1);
