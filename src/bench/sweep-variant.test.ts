import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseManifest, validateManifest } from '../core/manifest.js';
import { sweepVariant } from './sweep-variant.js';

const cold =
  'name: fit\nruntime: busybox\ncommand: ["/bin/sh", "/fn/fit.sh", "--fast"]\ntriggers: [{cron: "* * * * *"}]\n';

test('each mode is the same agni.yaml with its lifecycle and pool; a cold command served warm', () => {
  const m = parseManifest(cold);
  const v = (mode: 'process' | 'runc' | 'prewarmed' | 'warm') => {
    const out = sweepVariant(parse(cold) as Record<string, unknown>, mode, m, 4);
    assert.ok(typeof out !== 'string');
    validateManifest(out); // still a valid agni.yaml
    return out;
  };
  assert.deepEqual(v('runc').pool, { min: 0, max: 0 });
  assert.equal(v('runc').triggers, undefined);
  assert.equal(v('process').runtime, 'host');
  assert.match(String((v('process').env as Record<string, string>).PATH), /^\/usr\/local\/sbin:/);
  assert.deepEqual(v('prewarmed').pool, { min: 4, max: 4, idle: '30m' });
  const w = v('warm');
  assert.equal(w.name, 'fit-warm');
  assert.equal(w.lifecycle, 'warm');
  assert.deepEqual((w.command as string[]).slice(-3), ['/bin/sh', '/fn/fit.sh', '--fast']);
  assert.match((w.command as string[])[2]!, /agni_serve "\$@"/);
});

test('a warm function runs only in the warm mode, as it is', () => {
  const text = 'name: w\nruntime: host\ncommand: ["python3", "/fn/main.py"]\nlifecycle: warm\n';
  const m = parseManifest(text);
  assert.match(String(sweepVariant(parse(text), 'runc', m, 2)), /only the warm mode/);
  const w = sweepVariant(parse(text), 'warm', m, 2);
  assert.ok(typeof w !== 'string');
  assert.deepEqual(w.command, ['python3', '/fn/main.py']);
});
