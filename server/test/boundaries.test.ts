/**
 * Architecture rule 8, enforced: the pure folders (raft, tree, session, fsm, watch, pipeline) import
 * no Node built-ins and nothing from storage/transport/api (checked on the compiled JavaScript, so
 * type-only imports do not count), and no module of the server takes part in an import cycle.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
const PURE = ['raft', 'tree', 'session', 'fsm', 'watch', 'pipeline'];
const PURE_PACKAGES = ['@conclave/proto/errors'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return files(full);
    return name.endsWith('.js') ? [full] : [];
  });
}

function imports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => (m[1] ?? m[2])!);
}

const all = files(SRC);

describe('server module boundaries', () => {
  it('pure folders import only pure modules', () => {
    const violations: string[] = [];
    for (const file of all) {
      const rel = path.relative(SRC, file);
      const folder = rel.split(path.sep)[0]!;
      if (!PURE.includes(folder)) continue;
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) {
          const target = path.relative(SRC, path.resolve(path.dirname(file), spec));
          const targetFolder = target.split(path.sep)[0]!;
          if (!PURE.includes(targetFolder) && target !== 'errors.js') violations.push(`${rel} -> ${target}`);
        } else if (!PURE_PACKAGES.includes(spec)) {
          violations.push(`${rel} -> ${spec}`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it('has no import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const file of all) {
      graph.set(file, imports(file).filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s)));
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, stack: string[]) => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(node)), node].map((f) => path.relative(SRC, f)).join(' -> '));
        return;
      }
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) visit(next, [...stack, node]);
      state.set(node, 'done');
    };
    for (const file of all) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
