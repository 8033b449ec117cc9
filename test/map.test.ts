/**
 * `agni map` and `agni jobs` as a user runs them: a real `agni up` (runc, host runtime), the real
 * CLI over HTTP, real files, globs and pipes, a CLI killed mid-run and a server killed mid-job.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';
import { CLI, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { fnDir } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI through bash, as a user types it; stdin is /dev/null unless `input` is given. */
function agni(url: string, args: string[], o: { input?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [
        '-c',
        `${o.input === undefined ? '' : 'printf %s "$INPUT" | '}node ${CLI} "$@"${o.input === undefined ? ' </dev/null' : ''}`,
        'agni',
        ...args,
      ],
      {
        env: { ...process.env, AGNI_URL: url, INPUT: o.input ?? '' },
        cwd: o.cwd,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(url: string, args: string[], o: { input?: string; cwd?: string } = {}): Promise<Run> {
  const r = await agni(url, args, o);
  assert.equal(r.code, 0, `agni ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

function parse<T>(r: Run): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${JSON.stringify(r.stdout)} stderr: ${r.stderr}`);
  }
}

function files(entries: Record<string, string>): string {
  const dir = tempDir('agni-map-in-');
  for (const [name, text] of Object.entries(entries)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const FUNCTIONS = {
  // Sleeps as long as the payload's first word says, then prints the rest: completion order is
  // then unlike input order.
  slowecho: 'name: slowecho\nruntime: host\ncommand: \'read d rest; sleep "$d"; echo "$rest"\'\n',
  // Records when it ran, in ns, around a fixed sleep: the test measures overlap from its outputs.
  stamp:
    'name: stamp\nruntime: host\ncommand: \'p=$(cat); s=$(date +%s%N); sleep 0.5; e=$(date +%s%N); echo "$p $s $e"\'\n',
  square: "name: square\nruntime: host\ncommand: 'read n; echo $((n * n))'\n",
  sum: 'name: sum\nruntime: host\ncommand: ["awk", "{ s += $1 } END { print s }"]\n',
  picky:
    'name: picky\nruntime: host\ncommand: \'p=$(cat); case "$p" in *bad*) echo "refusing $p" >&2; exit 3;; esac; echo "ok $p"\'\n',
};

/** a function directory with this agni.yaml */
function fnOf(yaml: string): string {
  return fnDir({ 'agni.yaml': yaml });
}

function deployAll(url: string, names: (keyof typeof FUNCTIONS)[]): Promise<Run[]> {
  return Promise.all(names.map((n) => ok(url, ['deploy', fnOf(FUNCTIONS[n])])));
}

function jobIdOf(stderr: string): string {
  const m = /job (job-[a-z0-9]+)/.exec(stderr);
  assert.ok(m, `no job id in: ${stderr}`);
  return m[1]!;
}

const stop = stopAgniUp;

async function api<T>(url: string, path: string): Promise<T> {
  const res = await fetch(url + path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function waitDone(url: string, id: string, ms = 60_000): Promise<Job & { failedItems: JobItem[] }> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await agni(url, ['jobs', 'show', id, '--json']);
    if (r.code === 0) {
      const j = JSON.parse(r.stdout) as Job & { failedItems: JobItem[] };
      if (j.status === 'succeeded' || j.status === 'failed') return j;
    }
    if (Date.now() > end) throw new Error(`job ${id} not done after ${ms} ms: ${r.stdout} ${r.stderr}`);
    await sleep(300);
  }
}

describe('agni map', { timeout: 300_000 }, () => {
  const home = tempDir('agni-map-');
  let server: ChildProcess;
  let url: string;

  before(async () => {
    // More slots than the jobs' concurrency, so a job's own limit is what holds it back.
    const up = await spawnAgniUp(home, ['--slots', '4']);
    server = up.p;
    url = up.url;
    await deployAll(url, ['slowecho', 'stamp', 'square', 'sum', 'picky']);
  });
  after(() => stop(server));

  test('files, a directory, a quoted glob and stdin lines; outputs in input order', async () => {
    const d = files({
      'in/a.txt': '0.8 alpha\n',
      'in/b.txt': '0 beta\n',
      'in/c.txt': '0.3 gamma\n',
      'in/x.md': '0 md\n',
    });
    const expect = 'alpha\nbeta\ngamma\n';
    const byFiles = await ok(url, ['map', 'slowecho', 'in/a.txt', 'in/b.txt', 'in/c.txt', '-c', '3'], {
      cwd: d,
    });
    assert.equal(byFiles.stdout, expect, 'the slowest (first) input still comes first');
    assert.match(byFiles.stderr, /job job-\S+ succeeded: 3 of 3 inputs succeeded/);
    assert.equal((await ok(url, ['map', 'slowecho', 'in', '-c', '4'], { cwd: d })).stdout, `${expect}md\n`);
    assert.equal((await ok(url, ['map', 'slowecho', 'in/*.txt', '-c', '3'], { cwd: d })).stdout, expect);
    const lines = await ok(url, ['map', 'slowecho', '-c', '3'], { input: '0.5 one\n\n0 two\n0.2 three' });
    assert.equal(
      lines.stdout,
      'one\ntwo\nthree\n',
      'blank lines are no inputs; a last line without newline is one',
    );
    assert.equal((await ok(url, ['map', 'square', '-'], { input: '3\n' })).stdout, '9\n');
  });

  test('--out writes one file per input, named after it', async () => {
    const d = files({ 'in/a.txt': '0 alpha\n', 'in/sub/b.txt': '0 beta\n' });
    const out = join(d, 'results');
    const r = await ok(url, ['map', 'slowecho', 'in/**/*.txt', '--out', out], { cwd: d });
    assert.equal(r.stdout, '', 'outputs went to files, not stdout');
    assert.equal(readFileSync(join(out, 'a.txt.out'), 'utf8'), 'alpha\n');
    assert.equal(readFileSync(join(out, 'sub/b.txt.out'), 'utf8'), 'beta\n');
    const out2 = join(d, 'lines');
    await ok(url, ['map', 'square', '-o', out2], { input: '2\n5\n' });
    assert.deepEqual(readdirSync(out2).sort(), ['0.out', '1.out']);
    assert.equal(readFileSync(join(out2, '1.out'), 'utf8'), '25\n');
  });

  test('a job never runs more than --concurrency inputs at once', async () => {
    const input = Array.from({ length: 6 }, (_, i) => `item${i}`).join('\n');
    const r = await ok(url, ['map', 'stamp', '-c', '2'], { input });
    const spans = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([name, s, e]) => ({ name: name!, s: BigInt(s!), e: BigInt(e!) }));
    assert.deepEqual(
      spans.map((x) => x.name),
      Array.from({ length: 6 }, (_, i) => `item${i}`),
    );
    let max = 0;
    for (const a of spans) max = Math.max(max, spans.filter((b) => b.s <= a.s && a.s < b.e).length);
    assert.equal(max, 2, `at most 2 at once, and 2 did run together (server has 4 slots): ${r.stdout}`);
  });

  test('--reduce gets every output in input order; only its output is printed', async () => {
    const r = await ok(url, ['map', 'square', '--reduce', 'sum'], { input: '1\n2\n3\n4\n' });
    assert.equal(r.stdout, '30\n');
    const out = join(tempDir('agni-map-out-'), 'o');
    const j = await ok(url, ['map', 'square', '--reduce', 'sum', '--out', out, '--json'], {
      input: '5\n6\n',
    });
    const summary = JSON.parse(j.stdout) as {
      status: string;
      reduceStatus: string;
      counts: { succeeded: number };
    };
    assert.equal(summary.status, 'succeeded');
    assert.equal(summary.reduceStatus, 'succeeded');
    assert.equal(summary.counts.succeeded, 2);
    assert.equal(readFileSync(join(out, 'reduce.out'), 'utf8'), '61\n');
    assert.equal(readFileSync(join(out, '0.out'), 'utf8'), '25\n');
  });

  test('failures are listed, exit non-zero, and --retry-failed reruns only them', async () => {
    const d = files({ 'in/1-good.txt': 'one', 'in/2-bad.txt': 'bad two', 'in/3-good.txt': 'three' });
    const r = await agni(url, ['map', 'picky', 'in'], { cwd: d });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, 'ok one\nok three\n', 'the outputs that succeeded, in order');
    const id = jobIdOf(r.stderr);
    assert.match(r.stderr, /failed inputs \(1\)/);
    assert.match(r.stderr, /2-bad\.txt {2}failed \(exit 3\) {2}inv-\S+ {2}exited with code 3/);
    assert.ok(r.stderr.includes(`agni map --retry-failed ${id}`), r.stderr);

    const show = await ok(url, ['jobs', 'show', id]);
    assert.match(show.stdout, /status +failed: 1 of 3 inputs failed/);
    assert.match(show.stdout, /2-bad\.txt/);
    const listed = parse<Job[]>(await ok(url, ['jobs', '--json']));
    assert.equal(listed.find((j) => j.id === id)?.counts.failed, 1);

    const before = (await api<{ items: JobItem[] }>(url, `/v1/jobs/${id}/items`)).items;
    // Fix the function (a new version), then rerun only what failed.
    await ok(url, ['deploy', fnOf(FUNCTIONS.picky.replace('exit 3', 'true'))]);
    const retry = await ok(url, ['map', '--retry-failed', id]);
    assert.equal(retry.stdout, 'ok one\nok bad two\nok three\n', 'the whole result, in input order');
    const afterItems = (await api<{ items: JobItem[] }>(url, `/v1/jobs/${id}/items`)).items;
    assert.deepEqual(
      afterItems.map((i) => [i.status, i.attempts]),
      [
        ['succeeded', 1],
        ['succeeded', 2],
        ['succeeded', 1],
      ],
    );
    assert.equal(afterItems[0]!.invocationId, before[0]!.invocationId, 'a good input did not run again');
    assert.notEqual(afterItems[1]!.invocationId, before[1]!.invocationId);
    const again = await agni(url, ['map', '--retry-failed', id]);
    assert.notEqual(again.code, 0, 'nothing to retry is an error (409 conflict)');
    assert.match(again.stderr, /no failed inputs/);
  });

  test('bad input is refused before anything is stored', async () => {
    const d = files({ 'a.txt': 'x' });
    const before = parse<Job[]>(await ok(url, ['jobs', '--json', '-n', '1000']));
    const cases: [string[], number, RegExp][] = [
      [['map', 'square', 'a.txt', 'nope.txt'], 64, /input nope\.txt: no such file or directory/],
      [['map', 'square', '*.json'], 64, /input \*\.json: the glob matches no file/],
      [['map', 'nosuch', 'a.txt'], 66, /field `function`: no function named nosuch/],
      [['map', 'square', 'a.txt', '--reduce', 'nosuch'], 66, /field `reduce`: no function named nosuch/],
      [['map', 'square', 'a.txt', '-c', '0'], 64, /--concurrency 0: expected a whole number from 1 to 1000/],
      [['map', 'square', 'a.txt', '--out', 'a.txt'], 64, /--out a\.txt: exists and is not a directory/],
      [['map', 'square'], 64, /stdin: no non-blank line to map over/],
      [['map', '--retry-failed', 'job-nosuch'], 66, /no job job-nosuch/],
      [['jobs', 'show', 'job-nosuch'], 66, /no job job-nosuch/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await agni(url, args, { cwd: d });
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    // Over the payload limit (16 MiB): refused by the server midway; the half-made job is removed.
    writeFileSync(join(d, 'big.bin'), Buffer.alloc(17 * 1024 * 1024, 0x61));
    const big = await agni(url, ['map', 'square', 'a.txt', 'big.bin'], { cwd: d });
    assert.equal(big.code, 65, big.stderr);
    assert.match(big.stderr, /input .*big\.bin: the request body is larger than the limit/);
    rmSync(join(d, 'big.bin'));
    const afterList = parse<Job[]>(await ok(url, ['jobs', '--json', '-n', '1000']));
    assert.equal(afterList.length, before.length, 'no job was created by a refused command');
    assert.deepEqual(readdirSync(d), ['a.txt'], 'nothing was written beside the inputs');

    const post = (path: string, body: string) =>
      fetch(url + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const many = await post('/v1/jobs', JSON.stringify({ function: 'square', concurrency: 5000 }));
    assert.equal(many.status, 400);
    assert.match(await many.text(), /field `concurrency`: at most 1000/);
    const job = (await (await post('/v1/jobs', JSON.stringify({ function: 'square' }))).json()) as Job;
    const evil = await fetch(`${url}/v1/jobs/${job.id}/inputs`, {
      method: 'POST',
      body: '1',
      headers: { 'agni-input-name': encodeURIComponent('../../etc/x') },
    });
    assert.equal(evil.status, 400);
    assert.match(await evil.text(), /agni-input-name.*\.\./);
    const empty = await post(`/v1/jobs/${job.id}/start`, '');
    assert.equal(empty.status, 400, 'a job with no inputs does not start');
    await ok(url, ['jobs', 'rm', job.id]);
    assert.equal((await fetch(`${url}/v1/jobs/${job.id}`)).status, 404);
    assert.equal(existsSync(join(home, 'jobs', job.id)), false, 'its directory went with it');
  });

  test('--detach returns at once; a killed CLI leaves the job running to the end', async () => {
    const input = Array.from({ length: 6 }, (_, i) => `k${i}`).join('\n');
    const det = await ok(url, ['map', 'stamp', '-c', '2', '--detach'], { input });
    const detached = det.stdout.trim();
    assert.match(detached, /^job-[a-z0-9]+$/);

    const cli = spawn(process.execPath, [CLI, 'map', 'stamp', '-c', '2'], {
      env: { ...process.env, AGNI_URL: url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cli.stdin.end(input);
    let out = '';
    let err = '';
    cli.stdout.on('data', (c) => {
      out += c;
    });
    cli.stderr.on('data', (c) => {
      err += c;
    });
    // Kill it once the first output is out and the rest is still to come.
    for (let i = 0; i < 200 && !out.includes('k0'); i++) await sleep(50);
    assert.ok(out.includes('k0'), `no output yet: ${err}`);
    const id = jobIdOf(err);
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('exit', r));
    assert.equal(
      (await api<Job>(url, `/v1/jobs/${id}`)).status,
      'running',
      'the CLI died before the job ended',
    );

    for (const j of [id, detached]) {
      const done = await waitDone(url, j);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.counts.succeeded, 6);
    }
    const show = await ok(url, ['jobs', 'show', id]);
    assert.match(show.stdout, /inputs +6: 6 succeeded, 0 failed/);
    const last = await fetch(`${url}/v1/jobs/${id}/items/5/output`);
    assert.match(await last.text(), /^k5 \d+ \d+\n$/);
  });
});

describe('a restarted server resumes its jobs', { timeout: 180_000 }, () => {
  const home = tempDir('agni-map-restart-');
  let server: ChildProcess | undefined;
  after(() => stop(server));

  test('kill -9 mid-job, start again: every input ends, none lost', async () => {
    let up = await spawnAgniUp(home, ['--slots', '2']);
    server = up.p;
    await deployAll(up.url, ['slowecho', 'sum']);
    const reduceInput = Array.from({ length: 6 }, (_, i) => `0.3 ${i + 1}`).join('\n');
    const withReduce = (
      await ok(up.url, ['map', 'slowecho', '--reduce', 'sum', '-c', '1', '--detach'], { input: reduceInput })
    ).stdout.trim();
    const input = Array.from({ length: 8 }, (_, i) => `1.2 r${i}`).join('\n');
    const id = (await ok(up.url, ['map', 'slowecho', '-c', '2', '--detach'], { input })).stdout.trim();
    // Some done, some running, some not yet submitted.
    let mid = await api<Job>(up.url, `/v1/jobs/${id}`);
    for (let i = 0; i < 400 && mid.counts.succeeded < 1; i++) {
      await sleep(50);
      mid = await api<Job>(up.url, `/v1/jobs/${id}`);
    }
    assert.ok(mid.counts.succeeded >= 1 && mid.counts.pending > 0, `mid-job: ${JSON.stringify(mid.counts)}`);
    up.p.kill('SIGKILL');
    await new Promise((r) => up.p.once('exit', r));

    up = await spawnAgniUp(home, ['--slots', '2']);
    server = up.p;
    const done = await waitDone(up.url, id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.counts.succeeded, 8);
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${up.url}/v1/jobs/${id}/items/${i}/output`);
      assert.equal(await res.text(), `r${i}\n`);
    }
    const red = await waitDone(up.url, withReduce);
    assert.equal(red.status, 'succeeded', JSON.stringify(red));
    assert.equal(await (await fetch(`${up.url}/v1/jobs/${withReduce}/reduce/output`)).text(), '21\n');
    await stop(up.p);
  });
});
