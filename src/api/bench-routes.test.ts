import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { latestBenchResults, registerBenchRoutes } from './bench-routes.js';

test('the latest result of each benchmark, skipping dated files and half-written ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agni-bench-'));
  try {
    writeFileSync(join(dir, 'core-latest.json'), JSON.stringify({ benchmark: 'core-invoke', n: 3 }));
    writeFileSync(join(dir, 'core-2026-01-01T00-00-00-000Z.json'), JSON.stringify({ old: true }));
    writeFileSync(join(dir, 'map-latest.json'), '{"benchmark": "map-smi');
    writeFileSync(join(dir, 'pull-latest.json'), JSON.stringify({ benchmark: 'pull' }));
    const r = await latestBenchResults(dir);
    assert.deepEqual(r, [
      { name: 'core', result: { benchmark: 'core-invoke', n: 3 } },
      { name: 'pull', result: { benchmark: 'pull' } },
    ]);
    const app = Fastify();
    registerBenchRoutes(app, dir);
    const res = await app.inject({ method: 'GET', url: '/v1/bench/latest' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { results: r });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no results directory: an empty list, not an error', async () => {
  assert.deepEqual(await latestBenchResults(join(tmpdir(), 'agni-no-such-bench-dir')), []);
});
