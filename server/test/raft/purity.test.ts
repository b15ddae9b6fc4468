/** The Raft core stays pure: no Node built-ins, no I/O, no clock, no ambient randomness. */

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// This file runs from server/dist/test/raft; the sources are in server/src/raft.
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/raft');
const FORBIDDEN = [/\bMath\.random\b/, /\bDate\b/, /\bperformance\b/, /\bset(Timeout|Interval|Immediate)\b/, /\bprocess\b/, /\brequire\(/];

function code(file: string): string {
  // Comments may name what the code must not use.
  return readFileSync(path.join(SRC, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
}

describe('raft core purity', () => {
  const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));

  it('has sources to check', () => {
    assert.ok(files.includes('rawnode.ts'));
  });

  for (const file of files) {
    it(`${file} imports only the core and the error set, and no clock or randomness`, () => {
      const source = code(file);
      for (const [, spec] of source.matchAll(/(?:from|import)\s+'([^']+)'/g)) {
        assert.ok(spec!.startsWith('./') || spec === '../errors.js', `${file} imports ${spec}`);
      }
      for (const pattern of FORBIDDEN) assert.doesNotMatch(source, pattern, `${file} uses ${pattern}`);
    });
  }
});
