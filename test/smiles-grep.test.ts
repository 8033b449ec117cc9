/**
 * The smiles-grep example end to end: its data step, then `agni map smiles-grep SHARDS
 * --reduce smiles-count` through the real CLI against a real `agni up` (runc), checked against
 * a plain grep over the same lines. Also the data step's determinism and the shape of its lines.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parseManifest } from '../src/core/manifest.js';
import { CLI, spawnAgniUp } from './helpers/agni-up.js';

const MAKE_DATA = resolve('examples/smiles-grep/make-data.mjs');
const PATTERN = parseManifest(readFileSync('examples/smiles-grep/agni.yaml', 'utf8')).env.PATTERN!;

interface MakeData {
  makeRng(seed: number): () => number;
  smiles(rng: () => number): string;
  shardSizes(lines: number, shards: number): number[];
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with stdin from /dev/null (or `input`), resolving with its exit code and output. */
function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  input?: string,
): Promise<Ran> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('error', rej);
    p.on('close', (code) => res({ code, stdout, stderr }));
    if (input !== undefined) p.stdin!.end(input);
  });
}

const makeData = (out: string, lines: number, shards: number, seed = 7) =>
  run(process.execPath, [
    MAKE_DATA,
    '--lines',
    String(lines),
    '--shards',
    String(shards),
    '--seed',
    String(seed),
    '--out',
    out,
  ]);

const shardsOf = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((f) => join(dir, f));

/** What the same search gives on the bare host, one count per file. */
const hostCount = (file: string) =>
  Number(
    execFileSync('grep', ['-c', '-E', '-e', PATTERN, file], {
      env: { ...process.env, LC_ALL: 'C' },
    }).toString(),
  );

/** Syntax a SMILES parser checks first: known characters, balanced branches and brackets, paired ring digits. */
function smilesShapeError(s: string): string | undefined {
  if (!/^[A-Za-z0-9@+\-=#()[\].]+$/.test(s)) return 'unexpected character';
  if (s.startsWith('(') || s.includes('()')) return 'empty or leading branch';
  let depth = 0;
  for (const c of s) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) return 'branch closed before it opened';
  }
  if (depth !== 0) return 'unclosed branch';
  const outside = s.replace(/\[[^[\]]+\]/g, 'A');
  if (/[[\]]/.test(outside)) return 'unbalanced bracket atom';
  const digits: Record<string, number> = {};
  for (const d of outside.match(/\d/g) ?? []) digits[d] = (digits[d] ?? 0) + 1;
  if (Object.values(digits).some((n) => n % 2 !== 0)) return 'unpaired ring-closure digit';
  return undefined;
}

describe('smiles-grep data step', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'agni-smiles-data-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('same seed, same lines, whatever the sharding; another seed, other lines', async () => {
    for (const [name, shards, seed] of [
      ['a', 4, 7],
      ['b', 3, 7],
      ['c', 4, 8],
    ] as const)
      assert.equal((await makeData(join(tmp, name), 5000, shards, seed)).code, 0);
    const cat = (d: string) =>
      shardsOf(join(tmp, d))
        .map((f) => readFileSync(f, 'utf8'))
        .join('');
    assert.equal(cat('a'), cat('b'));
    assert.notEqual(cat('a'), cat('c'));
    assert.deepEqual(readdirSync(join(tmp, 'a')), [
      'shard-000.smi',
      'shard-001.smi',
      'shard-002.smi',
      'shard-003.smi',
    ]);
    assert.deepEqual(
      shardsOf(join(tmp, 'b')).map((f) => readFileSync(f, 'utf8').split('\n').length - 1),
      [1667, 1667, 1666],
    );
    // A rerun with fewer shards replaces the old ones instead of leaving strays for `agni map DIR`.
    assert.equal((await makeData(join(tmp, 'a'), 5000, 2)).code, 0);
    assert.equal(readdirSync(join(tmp, 'a')).length, 2);
  });

  test('lines are plausible SMILES: varied, syntactically sound, some matching the pattern', async () => {
    const m = (await import(pathToFileURL(MAKE_DATA).href)) as MakeData;
    const rng = m.makeRng(1);
    const lines = Array.from({ length: 20000 }, () => m.smiles(rng));
    for (const s of lines) assert.equal(smilesShapeError(s), undefined, `${s}: ${smilesShapeError(s)}`);
    assert.ok(new Set(lines).size > 15000, 'lines are varied');
    const share = (re: RegExp) => lines.filter((s) => re.test(s)).length / lines.length;
    assert.ok(share(/c1/) > 0.3, 'aromatic rings');
    assert.ok(share(/\(/) > 0.3, 'branches');
    assert.ok(share(/[+-]\]/) > 0.05, 'charges');
    assert.ok(share(/\./) > 0.01, 'salts');
    const matching = share(new RegExp(PATTERN));
    assert.ok(matching > 0.05 && matching < 0.95, `pattern ${PATTERN} matches ${matching} of lines`);
    assert.deepEqual(m.shardSizes(10, 4), [3, 3, 2, 2]);
  });

  test('bad flags are refused by name and write nothing', async () => {
    for (const [flag, value] of [
      ['--lines', 'many'],
      ['--shards', '0'],
      ['--seed', '-1'],
    ] as const) {
      const out = join(tmp, `bad${flag}`);
      const r = await run(process.execPath, [MAKE_DATA, `${flag}=${value}`, '--out', out]);
      assert.equal(r.code, 64, r.stderr);
      assert.match(r.stderr, new RegExp(`${flag}: expected`));
      assert.ok(!existsSync(out));
    }
    const r = await run(process.execPath, [
      MAKE_DATA,
      '--lines',
      '3',
      '--shards',
      '4',
      '--out',
      join(tmp, 'x'),
    ]);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--shards 4: more shards than --lines 3/);
  });
});

describe('smiles-grep with agni map', () => {
  const home = mkdtempSync(join(tmpdir(), 'agni-smiles-'));
  const data = join(home, 'shards');
  let server: ChildProcess;
  let env: NodeJS.ProcessEnv;
  const agni = (args: string[], input?: string) => run(process.execPath, [CLI, ...args], env, input);

  before(async () => {
    const made = await makeData(data, 20000, 4);
    assert.equal(made.code, 0, made.stderr);
    const up = await spawnAgniUp(home);
    server = up.p;
    env = { ...process.env, AGNI_URL: up.url };
    for (const dir of ['examples/smiles-grep', 'examples/smiles-count']) {
      const d = await agni(['deploy', dir]);
      assert.equal(d.code, 0, d.stderr);
    }
  });
  after(async () => {
    // SIGTERM, not SIGKILL: a clean stop tears down the prewarmed sandboxes and their cgroups.
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    const left = execFileSync('runc', ['--root', join(home, 'run', 'runc'), 'list', '-q']).toString();
    rmSync(home, { recursive: true, force: true });
    assert.equal(left.trim(), '', 'no sandbox left behind');
  });

  test('map + reduce total equals a plain grep -c over the same lines', async () => {
    const expected = shardsOf(data).reduce((s, f) => s + hostCount(f), 0);
    assert.ok(expected > 0 && expected < 20000, `pattern matches ${expected} of 20000 lines`);
    const r = await agni(['map', 'smiles-grep', data, '-c', '2', '--reduce', 'smiles-count']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${expected}\n`);
    // Without --reduce: one count per shard, in shard order.
    const each = await agni(['map', 'smiles-grep', data, '-c', '2']);
    assert.equal(each.code, 0, each.stderr);
    assert.equal(
      each.stdout,
      shardsOf(data)
        .map((f) => `${hostCount(f)}\n`)
        .join(''),
    );
  });

  test('each shard is counted alone, and a shard with no match counts 0 and succeeds', async () => {
    for (const f of shardsOf(data).slice(0, 2)) {
      const r = await agni(['invoke', 'smiles-grep', '--data', `@${f}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${hostCount(f)}\n`);
    }
    const none = await agni(['invoke', 'smiles-grep'], 'CCO\nc1ccccc1\n');
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, '0\n');
  });

  test('the reduce step sums counts and refuses anything that is not one', async () => {
    const ok = await agni(['invoke', 'smiles-count'], '12\n\n30\n0\n');
    assert.equal(ok.stdout, '42\n');
    const bad = await agni(['invoke', 'smiles-count'], '12\nerror: oops\n');
    assert.equal(bad.code, 2);
  });
});
