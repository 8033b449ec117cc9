/**
 * The docs cannot drift from the code: the README's CLI table names every verb, its agni.yaml
 * reference every field, its npm scripts and setup scripts exist, and every command block marked
 * runnable (a fenced block with info string `sh runnable`) runs, in order, against a real
 * `agni up` with `agni` on PATH.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { program } from '../src/cli/main.js';
import { manifestFields, validateManifest } from '../src/core/manifest.js';
import { TRIGGER_FIELDS } from '../src/core/trigger-spec.js';
import { existingCgroupLeaves } from '../src/sandbox/cgroups.js';
import { CLI, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { runcIds } from './helpers/runc-list.js';
import { tempDir } from './helpers/tmp.js';

const README = readFileSync('README.md', 'utf8');
const DOCS = ['README.md', ...readdirSync('docs').map((f) => join('docs', f))].filter((f) =>
  f.endsWith('.md'),
);

/** The text of `## heading` up to the next `## `. */
function section(heading: string): string {
  const at = README.indexOf(`\n## ${heading}\n`);
  assert.ok(at >= 0, `README has a "## ${heading}" section`);
  const end = README.indexOf('\n## ', at + 1);
  return README.slice(at, end < 0 ? undefined : end);
}

interface Block {
  file: string;
  line: number;
  info: string;
  body: string;
}

/** Every fenced block of `file` (top-level or indented in a list), with its info string. */
function blocks(file: string): Block[] {
  const text = readFileSync(file, 'utf8');
  const out: Block[] = [];
  for (const m of text.matchAll(/^( *)```([^\n`]*)\n([\s\S]*?)^\1```$/gm)) {
    const indent = m[1]!.length;
    const body = m[3]!
      .split('\n')
      .map((l) => l.slice(indent))
      .join('\n');
    out.push({ file, line: text.slice(0, m.index).split('\n').length, info: m[2]!.trim(), body });
  }
  return out;
}

function commandPaths(cmd: Command = program, path: string[] = []): string[] {
  return cmd
    .createHelp()
    .visibleCommands(cmd)
    .filter((c) => c.name() !== 'help')
    .flatMap((c) => [[...path, c.name()].join(' '), ...commandPaths(c, [...path, c.name()])]);
}

describe('docs match the code', () => {
  test("the README's CLI table names every verb `agni --help` has", () => {
    const table = section('CLI')
      .split('\n')
      .filter((l) => l.startsWith('| `agni '))
      .join('\n');
    const paths = commandPaths();
    assert.ok(paths.length > 30);
    const missing = paths.filter((p) => !new RegExp(`\`agni ${p.replace(/ /g, ' ')}[ \`\\]\\[]`).test(table));
    assert.deepEqual(missing, [], `verbs missing from the README's CLI table: ${missing.join(', ')}`);
  });

  test("the README's agni.yaml reference shows every field, and is itself valid", () => {
    const ref = blocks('README.md').find((b) => b.info === 'yaml' && /^name: /m.test(b.body));
    assert.ok(ref, 'README has the agni.yaml reference block');
    const doc = parse(ref.body) as Record<string, unknown>;
    // One document shows every field, so it holds `protocol: lambda` (with `handler`) beside a
    // cold lifecycle; without those two it must be a valid manifest as it stands.
    const { protocol: _p, handler: _h, ...plain } = doc;
    validateManifest(plain, 'README.md agni.yaml reference');
    const missing: string[] = [];
    for (const f of manifestFields()) {
      if (!(f in doc)) missing.push(f);
      const sub = manifestFields([f]);
      for (const g of sub) if (!(g in ((doc[f] ?? {}) as object))) missing.push(`${f}.${g}`);
    }
    const triggers = (doc.triggers ?? []) as Record<string, unknown>[];
    const lists = Object.values(TRIGGER_FIELDS);
    // A field every kind takes (version, alias) may be shown once, on any trigger or in a comment.
    const shownOnce = (g: string) =>
      lists.every((l) => l.includes(g)) && (triggers.some((t) => g in t) || ref.body.includes(`\`${g}:`));
    for (const [kind, fields] of Object.entries(TRIGGER_FIELDS)) {
      const t = triggers.find((x) => kind in x) ?? {};
      for (const g of fields) if (!(g in t) && !shownOnce(g)) missing.push(`triggers (${kind}).${g}`);
    }
    assert.deepEqual(
      missing,
      [],
      `fields missing from the README's agni.yaml reference: ${missing.join(', ')}`,
    );
  });

  test('every npm script and setup script the docs name exists', () => {
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> })
      .scripts;
    const quick = section('Quick start');
    assert.match(quick, /npm run demo/);
    for (const file of DOCS) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bnpm (?:run ([\w:-]+)|(test)\b)/g)) {
        const name = m[1] ?? m[2]!;
        assert.ok(name in scripts, `${file}: \`npm run ${name}\` is no script in package.json`);
      }
      for (const m of text.matchAll(/\bbash (scripts\/[\w.-]+)/g))
        assert.ok(existsSync(m[1]!), `${file}: ${m[1]} does not exist`);
    }
    // What `npm run demo` runs is tested as it runs (test/cli.test.ts, "quick start demo").
    assert.match(scripts.demo!, /bash scripts\/demo\.sh$/);
  });
});

describe('runnable doc blocks', () => {
  const home = tempDir('agni-docs-');
  const work = tempDir('agni-docs-work-');
  let server: ChildProcess;
  let banner = '';
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const up = await spawnAgniUp(home);
    server = up.p;
    banner = up.out();
    // `agni` on PATH as a user has it after `npm link`; examples/ where the docs expect it.
    const bin = tempDir('agni-bin-');
    writeFileSync(join(bin, 'agni'), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
    chmodSync(join(bin, 'agni'), 0o755);
    symlinkSync(resolve('examples'), join(work, 'examples'));
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, AGNI_URL: up.url };
  });
  after(() => stopAgniUp(server));

  test('every `sh runnable` block of README.md and docs/ exits 0', async () => {
    const runnable = DOCS.flatMap(blocks).filter((b) => b.info === 'sh runnable');
    assert.ok(runnable.length >= 2, `found ${runnable.length} runnable blocks`);
    for (const b of runnable) {
      // The server is already up (on a temp home): the block's own `agni up &` is skipped.
      const script = b.body.replace(/^agni up\b[^\n]*&[^\n]*$/gm, '');
      const r = await new Promise<{ code: number | null; out: string }>((res) => {
        const p = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: work, env });
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (out += d));
        p.on('close', (code) => res({ code, out }));
      });
      assert.equal(r.code, 0, `${b.file}:${b.line}: the block failed:\n${b.body}\n--- output ---\n${r.out}`);
    }
  });

  test('the server they ran on stops leaving none of its sandboxes, their cgroups included', async () => {
    // The blocks deployed functions with prewarmed pools: their sandboxes are up now.
    const root = join(home, 'run', 'runc');
    const ids = existsSync(root) ? runcIds(root) : [];
    if (/backend runc/.test(banner)) assert.ok(ids.length > 0, 'prewarmed sandboxes to stop');
    await stopAgniUp(server);
    assert.equal(server.exitCode, 0, 'stopped by its own shutdown');
    if (existsSync(root)) assert.deepEqual(runcIds(root), []);
    for (const id of ids) assert.deepEqual(existingCgroupLeaves(id), [], `cgroups of ${id}`);
  });
});
