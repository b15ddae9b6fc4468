/**
 * Runs the Go linearizability checker (e2e/checker, Porcupine) on histories: builds it on first use
 * into a cache directory keyed by a hash of its sources (never into the repository), writes each
 * history as JSON and reads back one verdict per history.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { History } from './history.js';

const run = promisify(execFile);

/** e2e/checker in this checkout (this file runs from e2e/dist/nemesis/). */
export const CHECKER_SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../checker');

export interface Verdict {
  file: string;
  model: string;
  /** Ok, Illegal, or Unknown (the search timed out) */
  result: 'Ok' | 'Illegal' | 'Unknown';
  operations: number;
  unknown: number;
  partitions: number;
  visualization?: string;
  millis: number;
  error?: string;
}

function cacheRoot(): string {
  if (process.env.CONCLAVE_CHECKER_CACHE) return process.env.CONCLAVE_CHECKER_CACHE;
  return path.resolve(CHECKER_SOURCE, '../../node_modules/.cache/conclave-checker');
}

let built: Promise<string> | undefined;

/** The checker binary, built once per source version (needs Go and the module proxy the first time). */
export function checkerBinary(): Promise<string> {
  built ??= (async () => {
    const hash = createHash('sha256');
    for (const name of readdirSync(CHECKER_SOURCE).sort()) {
      if (name === 'go.mod' || name === 'go.sum' || (name.endsWith('.go') && !name.endsWith('_test.go'))) {
        hash.update(name).update(readFileSync(path.join(CHECKER_SOURCE, name)));
      }
    }
    const dir = path.join(cacheRoot(), hash.digest('hex').slice(0, 16));
    const binary = path.join(dir, 'checker');
    if (!existsSync(binary)) {
      mkdirSync(dir, { recursive: true });
      try {
        await run('go', ['build', '-o', binary, '.'], { cwd: CHECKER_SOURCE, timeout: 600_000 });
      } catch (error) {
        const e = error as { stderr?: string; message: string };
        throw new Error(`cannot build the linearizability checker (Go 1.22+ and the Go module proxy are needed): ${e.stderr || e.message}`);
      }
    }
    return binary;
  })();
  built.catch(() => (built = undefined));
  return built;
}

/** Writes a history in the checker's format. */
export function writeHistory(file: string, model: string, history: History, params: object = {}): void {
  const operations = history.ops.map((op) => ({
    process: op.process,
    call: op.call,
    return: op.status === 'info' ? null : (op.ret ?? null),
    status: op.status ?? 'info',
    input: op.input,
    output: op.output ?? null,
  }));
  writeFileSync(file, JSON.stringify({ model, params, operations }));
}

/** Checks history files; resolves with one verdict each (Illegal ones name their HTML visualisation). */
export async function checkHistories(files: string[], options: { timeoutSeconds?: number } = {}): Promise<Verdict[]> {
  if (files.length === 0) return [];
  const binary = await checkerBinary();
  const args = ['-timeout', `${options.timeoutSeconds ?? 300}s`, ...files];
  let stdout: string;
  try {
    ({ stdout } = await run(binary, args, { maxBuffer: 64 * 1024 * 1024 }));
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    if ((e.code !== 1 && e.code !== 2) || !e.stdout) throw new Error(`checker failed: ${e.stderr || String(error)}`);
    stdout = e.stdout;
  }
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Verdict);
}
