#!/usr/bin/env node
/**
 * A nemesis run from the command line (the long runs, or replaying a seed); `--help` lists the
 * options. Prints the fault log as it goes and the report at the end; exits 1 when a check failed
 * (the cluster dir with logs, data, histories and Porcupine's visualisation is then kept).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ALL_FAULTS, type FaultKind } from './nemesis.js';
import { formatReport, runNemesis } from './run.js';

const integer = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

const range = (value: string): [number, number] => {
  const [min, max] = value.split('-').map(Number);
  if (!Number.isInteger(min) || !Number.isInteger(max) || min! > max!) throw new InvalidArgumentError('expected min-max in ms, e.g. 1000-5000');
  return [min!, max!];
};

const faultList = (value: string): FaultKind[] => {
  const faults = value.split(',') as FaultKind[];
  for (const f of faults) if (!ALL_FAULTS.includes(f)) throw new InvalidArgumentError(`unknown fault ${f}; known: ${ALL_FAULTS.join(', ')}`);
  return faults;
};

const setting = (value: string, previous: Record<string, string>): Record<string, string> => {
  const match = /^([A-Za-z]+)=(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected name=value, e.g. logMemoryBytes=1048576');
  return { ...previous, [match[1]!]: match[2]! };
};

const program = new Command('nemesis')
  .description('Runs a real cluster under faults (kills, pauses, partitions, slow links, membership changes) with checked workloads, then heals it and checks every invariant.')
  .addOption(new Option('--members <n>', 'cluster size').choices(['3', '5']).default('3'))
  .option('--seconds <n>', 'how long faults are injected', integer, 60)
  .option('--seed <n>', 'replay a run (default: a random seed, printed first)', integer)
  .option('--faults <list>', `comma-separated faults to draw from (default: all of ${ALL_FAULTS.join(', ')})`, faultList)
  .option('--hold <min-max>', 'how long each fault lasts, ms', range)
  .option('--gap <min-max>', 'time between faults, ms', range)
  .option('--compact', 'snapshots every 2,000 entries and logs compacted down to 500 behind (lagging members catch up by snapshot), as the 5-member test run does')
  .option('--setting <name=value>', 'a server setting for every member (repeatable), e.g. logMemoryBytes=1048576', setting, {})
  .option('--keep', 'keep the cluster dir even when every check passed')
  .addHelpText('after', '\nExamples:\n  node e2e/dist/nemesis/cli.js --seconds 300\n  node e2e/dist/nemesis/cli.js --members 5 --compact --setting logMemoryBytes=1048576\n  node e2e/dist/nemesis/cli.js --seed 1723572873 --faults kill-leader,partition-halves')
  .parse();

const opts = program.opts<{ members: string; seconds: number; seed?: number; faults?: FaultKind[]; hold?: [number, number]; gap?: [number, number]; compact?: boolean; setting: Record<string, string>; keep?: boolean }>();
const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
const members = Number(opts.members);
console.log(`nemesis: seed ${seed}, ${members} members, ${opts.seconds} s (replay with --seed ${seed})`);
process.env.NEMESIS_VERBOSE ??= '1';
const settings = { ...(opts.compact ? { snapshotCount: 2_000, snapshotCatchUpEntries: 500 } : {}), ...opts.setting };
const report = await runNemesis({
  members,
  seconds: opts.seconds,
  seed,
  faults: opts.faults,
  holdMs: opts.hold,
  gapMs: opts.gap,
  settings: Object.keys(settings).length > 0 ? settings : undefined,
  keep: opts.keep,
  log: (line) => console.log(`  ${line}`),
});
console.log(formatReport(report));
process.exit(report.ok ? 0 : 1);
