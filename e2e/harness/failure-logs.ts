/**
 * Mocha root hooks (loaded with --require by the test configs): when a test (or a hook before it) fails, print the end of
 * every member log of the clusters it started or used, so that a failure in CI can be understood
 * from its output alone; then remove the dirs of the clusters stopped during the test.
 */
import type { Context, Hook, Suite, Test } from 'mocha';
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

/** The test failed, or a before/beforeEach hook of one of its suites did (mocha then skips the test but still runs the afterEach hooks). */
function failed(test: Test | undefined): boolean {
  if (test?.state === 'failed') return true;
  for (let suite: Suite | undefined = test?.parent; suite; suite = suite.parent) {
    const hooks = suite as unknown as { _beforeAll: Hook[]; _beforeEach: Hook[] };
    if ([...hooks._beforeAll, ...hooks._beforeEach].some((hook) => hook.state === 'failed')) return true;
  }
  return false;
}

export const mochaHooks = {
  beforeAll(): void {
    TestCluster.deferCleanup = true;
  },
  afterEach(this: Context): void {
    if (failed(this.currentTest)) for (const cluster of TestCluster.open) printTails(cluster);
    for (const cluster of [...TestCluster.open]) if (cluster.stopped) cluster.cleanUp();
  },
  afterAll(): void {
    for (const cluster of [...TestCluster.open]) if (cluster.stopped) cluster.cleanUp();
  },
};
