/**
 * The dispatcher owns NodeAgent and sees a node only through it, so a remote agent can take the
 * in-process one's place. Its sources (not its tests, which wire a real agent) import nothing of
 * the agent, nor of the layers above it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** the TypeScript sources: compiled JavaScript has lost its `import type` lines */
const DIR = fileURLToPath(new URL('../../../src/dispatch/', import.meta.url));
const FORBIDDEN = /^\.\.\/(agent|app|api|cli|main|triggers)\//;

/** every module specifier of `import … from`, `export … from` and `import('…')` */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  return out;
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
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  assert.ok(files.includes('local-dispatcher.ts') && files.includes('node-agent.ts'), `sources in ${DIR}`);
  const bad = files.flatMap((f) =>
    specifiers(readFileSync(DIR + f, 'utf8'))
      .filter((s) => FORBIDDEN.test(s))
      .map((s) => `${f}: ${s}`),
  );
  assert.deepEqual(bad, [], 'use the NodeAgent interface (src/dispatch/node-agent.ts) instead');
});
