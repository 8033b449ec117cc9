import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { lazyAction } from './lazy-action.js';

/** the specifiers a compiled module imports statically (type-only imports are gone by now) */
function staticImports(js: string): string[] {
  const out: string[] = [];
  for (const m of js.matchAll(
    /^\s*(?:import|export)\s[^;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm,
  ))
    out.push((m[1] ?? m[2])!);
  return out;
}

/** what loading `entry` loads before anything runs: its static imports, transitively */
function loadedWith(entry: URL): { modules: string[]; packages: string[] } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const visit = (url: URL) => {
    if (modules.has(url.href)) return;
    modules.add(url.href);
    for (const s of staticImports(readFileSync(url, 'utf8'))) {
      if (s.startsWith('.')) visit(new URL(s, url));
      else if (!s.startsWith('node:')) packages.add(s);
    }
  };
  visit(entry);
  return { modules: [...modules], packages: [...packages] };
}

test('every agni invocation loads the command definitions only: no action, no package but commander', () => {
  const { modules, packages } = loadedWith(new URL('./main.js', import.meta.url));
  assert.ok(
    modules.some((m) => m.endsWith('/commands/map.js')),
    `walked ${modules.length} modules`,
  );
  assert.deepEqual(
    modules.filter((m) => /\/commands\/[^/]+-action\.js$/.test(m)).map((m) => m.replace(/.*\/src\//, 'src/')),
    [],
    'an action is imported when its command runs (lazyAction), not with every command',
  );
  assert.deepEqual(
    packages,
    ['commander'],
    'a package (tar, nats, zod, ...) loads with the action that uses it',
  );
});

test('the listing verbs (ls, rm, versions) load no manifest parser, build or upload code: only deploy does', () => {
  const { modules, packages } = loadedWith(new URL('./commands/functions-action.js', import.meta.url));
  assert.deepEqual(packages, [], 'zod, yaml, tar, ...: 250 ms of a listing, once');
  assert.ok(!modules.some((m) => /\/(manifest|build-action|dir-upload)\.js$/.test(m)), modules.join('\n'));
  assert.ok(
    loadedWith(new URL('./commands/deploy-action.js', import.meta.url)).modules.some((m) =>
      m.endsWith('/build-action.js'),
    ),
  );
});

test('agni map loads the glob matcher and the progress bar only when it uses them', () => {
  const { packages } = loadedWith(new URL('./commands/map-action.js', import.meta.url));
  assert.deepEqual(
    packages,
    ['commander'],
    '`--ref` and stdin never glob; a stderr that is no terminal shows no bar',
  );
});

test('a lazy action gets the arguments commander passes, and its errors reach the caller', async () => {
  const seen: unknown[] = [];
  const action = lazyAction(async () => async (name: string, o: { json?: boolean }) => {
    seen.push(name, o);
    throw new Error('refused');
  });
  await assert.rejects(action('wordcount', { json: true }), /refused/);
  assert.deepEqual(seen, ['wordcount', { json: true }]);
});
