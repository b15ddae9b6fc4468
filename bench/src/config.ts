/** What one run measures, full or short (CI). */
export interface Point {
  sessions: number;
  inFlight: number;
}

export interface BenchConfig {
  short: boolean;
  /** load-generator processes for the throughput workloads */
  workers: number;
  /** untimed load before the first measurement, for every system alike (ZooKeeper's JIT needs it) */
  warmupMs: number;
  /** per measured point: untimed ramp-up, then the timed window */
  rampMs: number;
  durationMs: number;
  /**
   * the load workloads run this many times on every system, interleaved (one point on each system
   * in turn, the order rotating each round); each cell reports the median round
   */
  rounds: number;
  sweep: Point[];
  /** the point the summary table and the targets use */
  headline: Point;
  keys: number;
  valueSize: number;
  bigValueSize: number;
  bigKeys: number;
  watchers: number;
  /** untimed fan-out rounds first: the watchers' processes are new for each measurement, for every system alike */
  watchWarmupRounds: number;
  watchRounds: number;
  treeSize: number;
  failoverRounds: number;
  profileMs: number;
}

export function makeConfig(short: boolean): BenchConfig {
  const headline = { sessions: 8, inFlight: 8 };
  return short
    ? {
        short,
        workers: 2,
        warmupMs: 3_000,
        rampMs: 1_000,
        durationMs: 3_000,
        rounds: 1,
        sweep: [headline],
        headline,
        keys: 1_000,
        valueSize: 100,
        bigValueSize: 100 * 1024,
        bigKeys: 100,
        watchers: 100,
        watchWarmupRounds: 1,
        watchRounds: 2,
        treeSize: 20_000,
        failoverRounds: 1,
        profileMs: 5_000,
      }
    : {
        short,
        workers: 2,
        warmupMs: 20_000,
        rampMs: 2_000,
        durationMs: 8_000,
        rounds: 3,
        sweep: [{ sessions: 4, inFlight: 4 }, headline, { sessions: 32, inFlight: 8 }],
        headline,
        keys: 1_000,
        valueSize: 100,
        bigValueSize: 100 * 1024,
        bigKeys: 100,
        watchers: 1_000,
        watchWarmupRounds: 5,
        watchRounds: 10,
        treeSize: 1_000_000,
        failoverRounds: 3,
        profileMs: 15_000,
      };
}
