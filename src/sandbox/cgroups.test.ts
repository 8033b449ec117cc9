import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeLeftoverCgroups } from './cgroups.js';

const root = mkdtempSync(join(tmpdir(), 'agni-cgroups-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('recovery removes its own leaves and stale ones, never another instance fresh leaf', () => {
  // A v2-shaped tree: <root>/cgroup.controllers, <root>/agni/<leaf>.
  writeFileSync(join(root, 'cgroup.controllers'), '');
  const leaf = (name: string) => join(root, 'agni', name);
  for (const n of ['mine', 'theirs-new', 'theirs-old', 'busy']) mkdirSync(leaf(n), { recursive: true });
  writeFileSync(join(leaf('busy'), 'task'), ''); // rmdir fails: it is not empty, like a live cgroup
  const longAgo = new Date(Date.now() - 3600_000);
  utimesSync(leaf('theirs-old'), longAgo, longAgo);
  utimesSync(leaf('busy'), longAgo, longAgo);

  const removed = removeLeftoverCgroups(new Set(['mine']), { root });

  assert.equal(removed, 2);
  assert.equal(existsSync(leaf('mine')), false);
  assert.equal(existsSync(leaf('theirs-old')), false);
  assert.equal(existsSync(leaf('theirs-new')), true, 'a leaf runc just made for another instance stays');
  assert.equal(existsSync(leaf('busy')), true);
  assert.equal(existsSync(join(root, 'agni')), true, 'the shared prefix stays');
});
