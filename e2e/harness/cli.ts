/** Runs the real `conclave` CLI (this checkout's build) as a child process, for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const clientDir = path.dirname(createRequire(import.meta.url).resolve('@conclave/client/package.json'));
/** The compiled CLI entry point. */
export const CLI_MAIN = path.join(clientDir, 'dist/src/cli/main.js');
/** The package's bin launcher (what `npx conclave` runs). */
export const CLI_BIN = path.join(clientDir, 'bin/conclave.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  endpoints?: string;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  entry?: string;
}

/** A running `conclave` command: its output so far, and its result once it exits. */
export type Running = ChildProcess & { out: string; err: string; done: Promise<CliResult> };

/** Runs `conclave ...args` to completion. */
export function conclave(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = start(args, options);
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  return child.done;
}

/** Starts `conclave ...args` (for long-running commands: watch, lock, elect). */
export function start(args: string[], options: CliOptions = {}): Running {
  const env = { ...process.env, ...options.env };
  if (options.endpoints !== undefined) env.CONCLAVE_ENDPOINTS = options.endpoints;
  const child = spawn(process.execPath, [options.entry ?? CLI_MAIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] }) as Running;
  child.out = '';
  child.err = '';
  child.stdout!.on('data', (d: Buffer) => (child.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (child.err += d.toString()));
  // Listening from the start: a command may end before anyone asks how.
  child.done = new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: child.out, stderr: child.err })));
  return child;
}
