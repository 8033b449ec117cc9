import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ColdRow, coldCsv, coldTable, phaseTable, ratio } from './cold-report.js';
import { summarize } from './stats.js';

const rows: ColdRow[] = [
  {
    kind: 'mode',
    name: 'runc',
    label: 'agni runc',
    total: summarize([30, 32, 34]),
    phases: { started: summarize([2, 2, 3]) },
  },
  { kind: 'mode', name: 'warm', label: 'agni warm', unavailable: 'not lifecycle: warm' },
  { kind: 'baseline', name: 'fork', label: 'fork/exec', total: summarize([2, 2, 2]) },
  { kind: 'baseline', name: 'docker', label: 'docker run --rm', unavailable: 'no engine' },
];

test('ratios against every available baseline', () => {
  assert.equal(ratio(32, 2), '16x');
  assert.equal(ratio(3, 2), '1.50x');
  assert.equal(ratio(undefined, 2), '-');
  const t = coldTable(rows);
  assert.match(t, /vs fork/);
  assert.doesNotMatch(t, /vs docker/);
  assert.match(t, /agni runc\s+32\.0ms/);
  assert.match(t, /16x/);
  assert.match(t, /docker run --rm: no engine/);
  assert.match(t, /agni warm: not lifecycle: warm/);
});

test('phase table and csv', () => {
  assert.match(phaseTable(rows), /started\s+2\.00ms/);
  const csv = coldCsv(rows).trim().split('\n');
  assert.equal(csv[0], 'kind,name,median_ms,p90_ms,mean_ms,n');
  assert.ok(csv.includes('mode,runc,32.000,33.600,32.000,3'));
  assert.ok(csv.some((l) => l.startsWith('phase,runc.started,')));
});
