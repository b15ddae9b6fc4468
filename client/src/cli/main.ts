#!/usr/bin/env node
/**
 * conclave: the command-line client (see `conclave --help`). Parses the arguments (args.ts), runs
 * the command (run.ts), and exits with its code: a one-line error on stderr and a non-zero code on
 * failure. The first Ctrl-C stops a long-running command cleanly (watch, lock, elect), within 5 s;
 * a second one, or one during any other command, exits at once with 130.
 */
import { createRequire } from 'node:module';
import { CommanderError } from 'commander';
import { EXIT, parseArgs } from './args.js';
import { run } from './run.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

const handlers = new Set<(signal: NodeJS.Signals) => void>();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (++interrupts > 1 || handlers.size === 0) process.exit(130);
    for (const handler of [...handlers]) handler(signal);
    // Stopping cleanly needs the cluster (resign, release, close the session): do not wait forever for it.
    setTimeout(() => process.exit(130), 5_000).unref();
  });
}

let code: number;
try {
  const parsed = parseArgs(process.argv.slice(2), process.env, undefined, version);
  code = await run(parsed, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    onInterrupt: (handler) => {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  });
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  code = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
}
process.exitCode = code;
// Everything is closed by now; if a library still holds the event loop open, do not hang on it.
setTimeout(() => process.exit(code), 2_000).unref();
