#!/usr/bin/env node
/** npm run report -w bench [-- results.json]: regenerates docs/benchmarks.md and its charts from a results JSON. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, writeReport, type BenchResults } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const file = process.argv[2] ?? path.join(root, 'bench/results/latest.json');
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
writeReport(results, root);
printTable(results);
process.stdout.write(`docs/benchmarks.md regenerated from ${path.relative(root, file)}\n`);
