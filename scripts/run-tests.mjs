#!/usr/bin/env node
// Runs compiled unit tests (dist/src/**/*.test.js) and integration tests (dist/test/**/*.test.js)
// with node's own test runner. Node 20 has no glob support in --test, hence this file list.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (p.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const unitOnly = process.argv.includes('--unit');
const files = [...find('dist/src'), ...(unitOnly ? [] : find('dist/test'))];
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/; run `npm run build` first');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
