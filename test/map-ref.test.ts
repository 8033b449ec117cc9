/**
 * `agni map --ref`: inputs by reference, as a user runs it. A real `agni up --volume` (runc, host
 * runtime), the real CLI, files already on the volume: nothing uploaded, each sandbox reads its
 * own file from the volume, outputs beside the job as for uploads, or written where the data lives
 * (`--out-to`, a read-write volume, following no link); hostile references and targets refused.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';
import { type AgniUp, runCli, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { fnDir } from './helpers/tarball.js';

const root = mkdtempSync(join(tmpdir(), 'agni-mapref-'));
const home = join(root, 'home');
const data = join(root, 'data');
const outside = join(root, 'outside');
const scratch = join(root, 'scratch');
let up: AgniUp;

async function ok(args: string[]): Promise<string> {
  const r = await runCli(up.url, args);
  assert.equal(r.code, 0, `agni ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(`${up.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as T };
}

/** outputs go only where the functions themselves may write: these mount scratch read-write */
const rw = 'volumes: [{name: data, path: /data}, {name: scratch, path: /mnt, mode: rw}]\n';

function deployDir(name: string, yaml: string): string {
  return fnDir({ 'agni.yaml': `name: ${name}\n${yaml}` });
}

describe('agni map --ref (runc)', () => {
  before(async () => {
    mkdirSync(join(data, 'shards'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    mkdirSync(scratch, { recursive: true });
    for (const [n, lines] of [
      ['a', 3],
      ['b', 5],
      ['c', 1],
    ] as const)
      writeFileSync(join(data, 'shards', `${n}.smi`), 'CCO\n'.repeat(lines));
    writeFileSync(join(data, 'shards', 'notes.txt'), 'not a shard\n');
    writeFileSync(join(outside, 'secret.smi'), 'SECRET\n');
    up = await spawnAgniUp(home, [
      '--backend',
      'runc',
      '--volume',
      `data=${data}`,
      '--volume',
      `scratch=${scratch}:rw`,
    ]);
    // AGNI_INPUT is the file's path inside the sandbox; stdin is empty
    await ok([
      'deploy',
      deployDir(
        'count-path',
        'runtime: host\ncommand: \'printf "%s %s %s\\n" "$AGNI_INPUT" "$(wc -l < "$AGNI_INPUT")" "$(wc -c)"\'\nvolumes: [{name: data, path: /data}]\n',
      ),
    ]);
    // input: stdin: the file's bytes on stdin (and its path in AGNI_INPUT too)
    await ok([
      'deploy',
      deployDir(
        'count-stdin',
        'runtime: host\ncommand: \'echo "$(wc -l) $AGNI_INPUT"\'\nvolumes: [{name: data, path: /mnt}]\ninput: stdin\npool: {max: 0}\n',
      ),
    ]);
    await ok(['deploy', deployDir('no-volume', "runtime: host\ncommand: 'cat'\n")]);
    // a warm worker gets AGNI_INPUT in each call's environment (the helpers ask for `env`)
    await ok([
      'deploy',
      fnDir({
        'agni.yaml':
          'name: count-warm\nruntime: host\ncommand: ["/bin/sh", "/fn/w.sh"]\nlifecycle: warm\nvolumes: [{name: data, path: /srv}]\n',
        'w.sh':
          '. "$AGNI_RUNTIMES/shell/agni-warm.sh"\nhandle() { echo "warm $AGNI_INPUT $(wc -l < "$AGNI_INPUT")"; }\nagni_serve handle\n',
      }),
    ]);
  });

  after(async () => {
    await stopAgniUp(up?.p);
    rmSync(root, { recursive: true, force: true });
  });

  test('the files a glob names on the volume, each read in place: right outputs, nothing uploaded', async () => {
    const out = join(root, 'out-path');
    const summary = JSON.parse(
      await ok(['map', 'count-path', '--ref', 'data:/shards/*.smi', '--out', out, '--json']),
    ) as { job: string; status: string; counts: { total: number; succeeded: number } };
    assert.equal(summary.status, 'succeeded');
    assert.equal(summary.counts.total, 3);
    assert.equal(readFileSync(join(out, 'data/shards/a.smi.out'), 'utf8'), '/data/shards/a.smi 3 0\n');
    assert.equal(readFileSync(join(out, 'data/shards/b.smi.out'), 'utf8'), '/data/shards/b.smi 5 0\n');
    assert.equal(readFileSync(join(out, 'data/shards/c.smi.out'), 'utf8'), '/data/shards/c.smi 1 0\n');
    const job = await api<Job>('GET', `/v1/jobs/${summary.job}`);
    assert.equal(job.body.inputBytes, 0);
    const items = await api<{ items: JobItem[] }>('GET', `/v1/jobs/${summary.job}/items`);
    assert.deepEqual(
      items.body.items.map((i) => [i.name, i.inputBytes]),
      [
        ['data/shards/a.smi', 0],
        ['data/shards/b.smi', 0],
        ['data/shards/c.smi', 0],
      ],
    );
  });

  test('input: stdin gets the file on stdin; outputs to stdout in input order', async () => {
    const stdout = await ok(['map', 'count-stdin', '--ref', 'data:/shards/*.smi']);
    assert.equal(stdout, '3 /mnt/shards/a.smi\n5 /mnt/shards/b.smi\n1 /mnt/shards/c.smi\n');
  });

  test('warm workers read their input by reference too', async () => {
    const stdout = await ok(['map', 'count-warm', '--ref', 'data:/shards/[ab].smi', '-c', '1']);
    assert.equal(stdout, 'warm /srv/shards/a.smi 3\nwarm /srv/shards/b.smi 5\n');
  });

  test('hostile references are refused: .., braces, a symlink out of the volume, an unknown volume', async () => {
    const cli = await runCli(up.url, ['map', 'count-path', '--ref', 'data:/../etc/*']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /--ref: .*`\.\.`/);
    const job = await api<Job>('POST', '/v1/jobs', { function: 'count-path' });
    assert.equal(job.status, 201);
    const refs = `/v1/jobs/${job.body.id}/refs`;
    for (const ref of [
      'data:/../etc/*',
      'data:/{..,shards}/*',
      'data:/shards/../../etc/passwd',
      'data:etc/*',
    ]) {
      const r = await api<{ error: { message: string } }>('POST', refs, { ref });
      assert.equal(r.status, 400, ref);
      assert.match(r.body.error.message, /^ref: /, ref);
    }
    const unknown = await api<{ error: { message: string } }>('POST', refs, { ref: 'other:/x/*' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /volume other/);
    symlinkSync(join(outside, 'secret.smi'), join(data, 'shards', 'evil.smi'));
    try {
      const evil = await api<{ error: { message: string } }>('POST', refs, { ref: 'data:/shards/*.smi' });
      assert.equal(evil.status, 400);
      assert.match(evil.body.error.message, /evil\.smi.*outside the volume/);
    } finally {
      rmSync(join(data, 'shards', 'evil.smi'));
    }
    // nothing was added by the refused ones
    assert.equal((await api<Job>('GET', `/v1/jobs/${job.body.id}`)).body.counts.total, 0);
    await api('DELETE', `/v1/jobs/${job.body.id}`);
  });

  test('--out-to writes each output where the data lives, and the reduce’s; a failed input writes none', async () => {
    await ok([
      'deploy',
      deployDir(
        'count-out',
        `runtime: host\ncommand: 'printf "%s %s %s\\n" "$AGNI_INPUT" "$(wc -l < "$AGNI_INPUT")" "$(wc -c)"'\n${rw}`,
      ),
    ]);
    await ok([
      'deploy',
      deployDir('sum-up', `runtime: host\ncommand: 'awk "{s+=\\$2} END {print s}"'\n${rw}`),
    ]);
    await ok([
      'deploy',
      deployDir(
        'fail-on-b',
        `runtime: host\ncommand: 'case "$AGNI_INPUT" in *b.smi) exit 3;; esac; echo "ok $AGNI_INPUT"'\n${rw}`,
      ),
    ]);
    const r = await runCli(up.url, [
      'map',
      'count-out',
      '--ref',
      'data:/shards/*.smi',
      '--out-to',
      'scratch:/runs/1',
      '--reduce',
      'sum-up',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '9\n', 'only the reduce is printed');
    assert.match(r.stderr, /outputs in scratch:\/runs\/1/);
    const at = join(scratch, 'runs', '1', 'data', 'shards');
    assert.equal(readFileSync(join(at, 'a.smi.out'), 'utf8'), '/data/shards/a.smi 3 0\n');
    assert.equal(readFileSync(join(at, 'c.smi.out'), 'utf8'), '/data/shards/c.smi 1 0\n');
    assert.equal(readFileSync(join(scratch, 'runs', '1', 'reduce.out'), 'utf8'), '9\n');
    const failing = await runCli(up.url, [
      'map',
      'fail-on-b',
      '--ref',
      'data:/shards/*.smi',
      '--out-to',
      'scratch:/runs/2',
      '--json',
    ]);
    assert.equal(failing.code, 1);
    const summary = JSON.parse(failing.stdout) as {
      outTo: string;
      counts: { succeeded: number; failed: number };
    };
    assert.equal(summary.outTo, 'scratch:/runs/2');
    assert.deepEqual([summary.counts.succeeded, summary.counts.failed], [2, 1]);
    assert.deepEqual(readdirSync(join(scratch, 'runs', '2', 'data', 'shards')).sort(), [
      'a.smi.out',
      'c.smi.out',
    ]);
  });

  test('--out-to refuses a read-only or unknown volume, `..`, and a volume the functions may not write; a link planted on the way fails the input and writes nothing off the volume', async () => {
    const mounts = await api<{ error: { message: string; hint?: string } }>('POST', '/v1/jobs', {
      function: 'count-out',
      reduce: 'count-path',
      output_to: 'scratch:/out',
    });
    assert.equal(mounts.status, 400);
    assert.match(
      mounts.body.error.message,
      /^field `output_to`: count-path v1 does not mount volume scratch read-write/,
      'a reduce that may not write there is refused too',
    );
    for (const [target, why] of [
      ['data:/out', /field `output_to`: volume data is read-only on this server/],
      ['other:/out', /field `output_to`: no volume "other" here; volumes that exist: data, scratch/],
      ['scratch:/../out', /field `output_to`: the directory may not contain `\.` or `\.\.` segments/],
    ] as const) {
      const res = await api<{ error: { message: string; hint?: string } }>('POST', '/v1/jobs', {
        function: 'count-path',
        output_to: target,
      });
      assert.equal(res.status, 400, target);
      assert.match(res.body.error.message, why);
    }
    const cli = await runCli(up.url, [
      'map',
      'count-path',
      '--ref',
      'data:/shards/a.smi',
      '--out-to',
      'scratch:x',
    ]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /--out-to: the directory must start with \//);
    // A function that may write to the volume put a link where the outputs go, pointing off it.
    mkdirSync(join(scratch, 'runs', '3'), { recursive: true });
    symlinkSync(outside, join(scratch, 'runs', '3', 'data'));
    const r = await runCli(up.url, [
      'map',
      'count-out',
      '--ref',
      'data:/shards/a.smi',
      '--out-to',
      'scratch:/runs/3',
      '--json',
    ]);
    assert.equal(r.code, 1);
    const summary = JSON.parse(r.stdout) as { failed: { error: string }[] };
    assert.match(
      summary.failed[0]!.error,
      /^output_to: scratch:\/runs\/3\/data\/shards\/a\.smi\.out: a directory on the way is a link or a file/,
    );
    assert.deepEqual(readdirSync(outside), ['secret.smi'], 'nothing written off the volume');
    assert.ok(!existsSync(join(outside, 'shards')));

    // Checked again for each item: an alias the job names may move to a version without the mount.
    await ok(['deploy', deployDir('moving', `runtime: host\ncommand: 'echo one'\n${rw}`)]);
    await ok(['alias', 'set', 'moving', 'prod', '1']);
    const job = await api<{ id: string }>('POST', '/v1/jobs', {
      function: 'moving@prod',
      output_to: 'scratch:/runs/4',
    });
    assert.equal(job.status, 201);
    await ok([
      'deploy',
      deployDir('moving', "runtime: host\ncommand: 'echo two'\nvolumes: [{name: data, path: /data}]\n"),
    ]);
    await ok(['alias', 'set', 'moving', 'prod', '2']);
    assert.equal(
      (await api('POST', `/v1/jobs/${job.body.id}/refs`, { ref: 'data:/shards/a.smi' })).status,
      201,
    );
    assert.equal((await api('POST', `/v1/jobs/${job.body.id}/start`)).status, 200);
    let items: { status: string; error: string | null }[] = [];
    for (let i = 0; i < 100; i++) {
      items = (await api<{ items: typeof items }>('GET', `/v1/jobs/${job.body.id}/items`)).body.items;
      if (items[0]?.status === 'failed' || items[0]?.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(items[0]?.status, 'failed');
    assert.match(String(items[0]?.error), /^output_to: moving v2 does not mount volume scratch read-write/);
    assert.ok(!existsSync(join(scratch, 'runs', '4', 'data')), 'nothing written');
  });

  test('a function that does not mount the volume is refused, naming it', async () => {
    const r = await runCli(up.url, ['map', 'no-volume', '--ref', 'data:/shards/*.smi']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not mount volume data/);
  });

  test('nothing mounted is left once the jobs are done', () => {
    const left = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(root));
    assert.deepEqual(left, []);
  });
});
