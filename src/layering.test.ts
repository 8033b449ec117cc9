/**
 * Lower layers never import upper ones. Two rules are checked here, on the TypeScript sources (not
 * their tests, which wire real components; compiled JavaScript has lost its `import type` lines):
 * - the dispatcher owns NodeAgent and sees a node only through it, so a remote agent can take the
 *   in-process one's place: src/dispatch imports nothing of the agent, nor of the layers above;
 * - composition roots (src/main) are the top: only the CLI and the bench harness start them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** every module specifier of `import … from`, `export … from` and `import('…')` */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  return out;
}

/** `folder`'s sources (recursively, tests left out) as [path under src, text] */
function sources(folder: string): [string, string][] {
  const dir = join(SRC, folder);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => [relative(SRC, join(dir, f)), readFileSync(join(dir, f), 'utf8')]);
}

/** imports of files in `folders` that resolve into one of `forbidden` (top-level folders of src) */
function violations(folders: string[], forbidden: RegExp): string[] {
  return folders.flatMap((folder) =>
    sources(folder).flatMap(([file, text]) =>
      specifiers(text)
        .filter((s) => s.startsWith('.'))
        .map((s) => relative(SRC, join(SRC, file, '..', s)))
        .filter((target) => forbidden.test(target))
        .map((target) => `${file} imports src/${target}`),
    ),
  );
}

test('specifiers finds static, type-only, re-export and dynamic imports', () => {
  const src = [
    "import { a } from '../agent/agent.js';",
    "import type {\n  B,\n} from '../agent/b.js';",
    "export { c } from './c.js';",
    "const d = await import('../app/d.js');",
    "import '../sandbox/e.js';",
  ].join('\n');
  assert.deepEqual(specifiers(src), [
    '../agent/agent.js',
    '../agent/b.js',
    './c.js',
    '../app/d.js',
    '../sandbox/e.js',
  ]);
});

test('src/dispatch imports nothing from the agent or the layers above it', () => {
  const files = sources('dispatch').map(([f]) => f);
  assert.ok(files.includes(join('dispatch', 'node-agent.ts')), `sources found: ${files.join(', ')}`);
  const bad = violations(['dispatch'], /^(agent|app|api|cli|main|triggers)\//);
  assert.deepEqual(bad, [], 'the dispatcher sees a node through NodeAgent (src/dispatch/node-agent.ts)');
});

test('only the CLI and the bench harness import the composition roots (src/main)', () => {
  const below = readdirSync(SRC, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !['main', 'cli', 'bench'].includes(d.name))
    .map((d) => d.name);
  assert.ok(below.includes('app') && below.includes('api'), `folders found: ${below.join(', ')}`);
  assert.deepEqual(violations(below, /^main\//), []);
});
