/**
 * Deterministic simulation of the Raft core over many seeds (see sim/simulation.ts).
 *   RAFT_SIM_SEEDS=n        number of seeds (default 10000), from RAFT_SIM_FIRST_SEED (default 1)
 *   RAFT_SIM_STEPS=ticks    length of each run's fault phase in ticks (default 100)
 *   RAFT_SIM_SEED=s         replay one seed; with RAFT_SIM_TRACE=1 print every event
 */

import { Simulation, type SimStats } from './sim/simulation.js';

const env = process.env;
const FAULT_TICKS = Number(env['RAFT_SIM_STEPS'] ?? 100);
const CHUNK = 1000;

function replayCommand(seed: number): string {
  const steps = env['RAFT_SIM_STEPS'] === undefined ? '' : ` RAFT_SIM_STEPS=${FAULT_TICKS}`;
  return `RAFT_SIM_SEED=${seed}${steps} npx mocha server/dist/test/raft/sim.test.js`;
}

function runSeed(seed: number, trace?: (line: string) => void): SimStats {
  const sim = new Simulation({ seed, faultTicks: FAULT_TICKS, ...(trace === undefined ? {} : { trace }) });
  try {
    return sim.run();
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const failure = new Error(`seed ${seed} failed: ${reason}\n  params ${sim.describe()}\n  replay: ${replayCommand(seed)}`);
    failure.stack = `${failure.message}\n${error instanceof Error ? error.stack : ''}`;
    throw failure;
  }
}

function summarize(all: SimStats[]): string {
  const sum = (f: (s: SimStats) => number) => all.reduce((a, s) => a + f(s), 0);
  const max = (f: (s: SimStats) => number) => all.reduce((a, s) => Math.max(a, f(s)), 0);
  return (
    `${all.length} seeds, ${sum((s) => s.events)} events: ${sum((s) => s.leaders)} leaders, ` +
    `${sum((s) => s.committed)} entries committed, ${sum((s) => s.crashes)} crashes, ${sum((s) => s.disconnects)} disconnects, ${sum((s) => s.partitions)} partitions, ` +
    `${sum((s) => s.confChanges)} conf changes, ${sum((s) => s.transfers)} transfers, ${sum((s) => s.snapshotsSent)} snapshots sent, ` +
    `${sum((s) => s.reads)} reads; after healing: leader within ${max((s) => s.timeToLeaderMs)} ms, ` +
    `converged within ${max((s) => s.timeToConvergeMs)} ms (worst seeds)`
  );
}

describe('raft simulation', function () {
  this.timeout(600_000);

  const single = env['RAFT_SIM_SEED'];
  if (single !== undefined) {
    it(`replays seed ${single}`, () => {
      const trace = env['RAFT_SIM_TRACE'] === '1' ? (line: string) => console.log(line) : undefined;
      console.log(summarize([runSeed(Number(single), trace)]));
    });
    return;
  }

  const first = Number(env['RAFT_SIM_FIRST_SEED'] ?? 1);
  const count = Number(env['RAFT_SIM_SEEDS'] ?? 10_000);
  const all: SimStats[] = [];
  for (let start = first; start < first + count; start += CHUNK) {
    const end = Math.min(first + count, start + CHUNK);
    it(`keeps Raft's safety properties and recovers, seeds ${start}..${end - 1}`, () => {
      for (let seed = start; seed < end; seed++) all.push(runSeed(seed));
    });
  }
  after(() => {
    if (all.length > 0) console.log(`      ${summarize(all)}`);
  });
});
