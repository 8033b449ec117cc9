/** docs/security.md prints the route → scope table: it must say what the code does, row for row. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ROUTE_SCOPES } from './route-scopes.js';

test("docs/security.md's scope table is ROUTE_SCOPES, row for row", () => {
  const doc = readFileSync('docs/security.md', 'utf8');
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `([A-Z]+ [^`]+)` \| ([^|]+) \| ([^|]+) \|$/gm))
    rows.set(m[1]!, `${m[2]!.trim()} / ${m[3]!.trim()}`);
  const want = new Map<string, string>();
  for (const [key, r] of Object.entries(ROUTE_SCOPES)) {
    const need = r.need === 'public' ? 'none (public)' : r.need.join(' or ');
    want.set(key, `${need} / ${r.fn ?? '-'}`);
  }
  assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(want));
});
