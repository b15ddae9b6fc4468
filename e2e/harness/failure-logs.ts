/**
 * Mocha root hooks (loaded with --require by the test configs): when a test fails, print the end of
 * every member log of the clusters it started or used, so that a failure in CI can be understood
 * from its output alone; then remove the dirs of the clusters stopped during the test.
 */
import type { Context } from 'mocha';
import { TestCluster } from './cluster.js';

const TAIL_LINES = 60;
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino JSON line as "hh:mm:ss.mmm LEVEL message {other fields}"; other lines as they are. */
function formatLine(line: string): string {
  try {
    const { time, level, msg, pid: _pid, hostname: _hostname, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const when = typeof time === 'string' ? time.slice(11, 23) : '';
    const fields = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
    return `${when} ${(LEVELS[level as number] ?? String(level)).padEnd(5)} ${String(msg)}${fields}`;
  } catch {
    return line;
  }
}

function printTails(cluster: TestCluster): void {
  for (const m of cluster.members.values()) {
    console.log(`--- ${m.logFile} (last ${TAIL_LINES} lines)`);
    for (const line of cluster.logTail(m.id, TAIL_LINES).split('\n')) console.log(formatLine(line));
  }
}

export const mochaHooks = {
  beforeAll(): void {
    TestCluster.deferCleanup = true;
  },
  afterEach(this: Context): void {
    if (this.currentTest?.state === 'failed') for (const cluster of TestCluster.open) printTails(cluster);
    for (const cluster of [...TestCluster.open]) if (cluster.stopped) cluster.cleanUp();
  },
  afterAll(): void {
    for (const cluster of [...TestCluster.open]) if (cluster.stopped) cluster.cleanUp();
  },
};
