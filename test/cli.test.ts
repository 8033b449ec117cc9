/** The CLI as a user runs it: a real `agni up` process, commands over HTTP, shell pipes, signals. */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { fnDir } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

const run = promisify(execFile);

/**
 * A port that is free now and below the kernel's ephemeral range (32768 and up here), so no
 * outgoing connection of another test can take it before the demo's server binds it: a random
 * port once collided with one (EADDRINUSE in CI).
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

describe('cli', () => {
  const home = tempDir('agni-cli-');
  let server: ChildProcess;
  let env: NodeJS.ProcessEnv;

  const agni = (args: string[], input?: string) =>
    run(
      'bash',
      [
        '-c',
        `${input === undefined ? '' : 'printf %s "$INPUT" | '}node ${CLI} "$@"${input === undefined ? ' </dev/null' : ''}`,
        'agni',
        ...args,
      ],
      { env: { ...env, INPUT: input ?? '' } },
    );

  before(async () => {
    const up = await spawnAgniUp(home);
    server = up.p;
    env = { ...process.env, AGNI_URL: up.url };
  });
  after(() => stopAgniUp(server));

  test('deploy, ls --json, invoke with --data, @file and stdin', async () => {
    const d = await agni(['deploy', 'examples/wordcount']);
    assert.match(d.stdout, /deployed wordcount version 1/);
    await agni(['deploy', 'examples/python-stats']);
    const ls = JSON.parse((await agni(['ls', '--json'])).stdout) as { function: string }[];
    assert.deepEqual(ls.map((f) => f.function).sort(), ['python-stats', 'wordcount']);
    assert.deepEqual(JSON.parse((await agni(['invoke', 'wordcount', '--data', 'a b c'])).stdout), {
      lines: 0,
      words: 3,
      bytes: 5,
    });
    const f = join(fnDir({ 'in.txt': 'x\ny\n' }), 'in.txt');
    assert.deepEqual(JSON.parse((await agni(['invoke', 'wordcount', '--data', `@${f}`])).stdout), {
      lines: 2,
      words: 2,
      bytes: 4,
    });
    assert.equal(JSON.parse((await agni(['invoke', 'python-stats'], '1 2 3 4')).stdout).mean, 2.5);
  });

  test('functions compose in shell pipes', async () => {
    const upper = fnDir({ 'agni.yaml': 'name: upper\nruntime: host\ncommand: ["tr", "a-z", "A-Z"]\n' });
    await agni(['deploy', upper]);
    const r = await run(
      'bash',
      [
        '-c',
        `printf 'hello pipes' | node ${CLI} invoke upper | node ${CLI} invoke upper | node ${CLI} invoke wordcount --data @/dev/stdin`,
      ],
      { env },
    );
    assert.deepEqual(JSON.parse(r.stdout), { lines: 0, words: 2, bytes: 11 });
    const r2 = await run('bash', ['-c', `printf 'hello pipes' | node ${CLI} invoke upper`], { env });
    assert.equal(r2.stdout, 'HELLO PIPES');
  });

  test('failures give clear errors and distinct exit codes', async () => {
    await agni(['deploy', 'examples/fail']);
    await assert.rejects(agni(['invoke', 'fail']), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 3, 'the function exit code passes through');
      assert.match(e.stderr, /fail exited with code 3/);
      return true;
    });
    await assert.rejects(
      agni(['invoke', 'nosuch']),
      (e: { code: number; stderr: string }) => e.code === 66 && /hint: list functions/.test(e.stderr),
    );
    const bad = fnDir({ 'agni.yaml': 'name: x\nruntime: host\ncommand: ls\nconcurrency: many\n' });
    await assert.rejects(agni(['deploy', bad]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 65);
      assert.ok(e.stderr.includes(`${join(bad, 'agni.yaml')}: field \`concurrency\``), e.stderr);
      return true;
    });
    await assert.rejects(
      run('node', [CLI, 'ls'], { env: { ...env, AGNI_URL: 'http://127.0.0.1:9' } }),
      (e: { code: number; stderr: string }) => e.code === 69 && /agni up/.test(e.stderr),
    );
  });

  test('logs, inspect and versions list what happened', async () => {
    const logs = JSON.parse((await agni(['logs', 'wordcount', '--json'])).stdout) as {
      id: string;
      status: string;
    }[];
    assert.ok(logs.length >= 2);
    const ins = await agni(['inspect', logs[0]!.id]);
    for (const p of ['received', 'queued', 'placed', 'sandbox_ready', 'started', 'first_byte', 'finished'])
      assert.match(ins.stdout, new RegExp(p));
    assert.match(ins.stdout, /█/);
    const v = JSON.parse((await agni(['versions', 'wordcount', '--json'])).stdout) as { version: number }[];
    assert.equal(v[0]!.version, 1);
    assert.match((await agni(['logs'])).stdout, /STATUS/);
  });

  test('bench load reports every level as JSON, CSV and an SVG chart', async () => {
    const svg = join(home, 'load.svg');
    const r = await agni([
      'bench',
      'load',
      'wordcount',
      '-c',
      '1,2',
      '--duration',
      '400ms',
      '--json',
      '--svg',
      svg,
    ]);
    const j = JSON.parse(r.stdout) as { levels: { concurrency: number; ok: number; throughput: number }[] };
    assert.deepEqual(
      j.levels.map((l) => l.concurrency),
      [1, 2],
    );
    for (const l of j.levels) assert.ok(l.ok > 0 && l.throughput > 0);
    assert.match(readFileSync(svg, 'utf8'), /<svg[\s\S]*polyline/);
    const csv = (await agni(['bench', 'load', 'wordcount', '-c', '1', '--duration', '200ms', '--csv'])).stdout
      .trim()
      .split('\n');
    assert.equal(csv.length, 2);
    await assert.rejects(
      agni(['bench', 'load', 'nosuch', '-c', '1']),
      (e: { code: number }) => e.code === 66,
    );
  });

  test('bench cold measures modes and baselines in one run', async () => {
    const r = await agni([
      'bench',
      'cold',
      'examples/noop',
      '-n',
      '2',
      '--modes',
      'process,runc',
      '--baselines',
      'fork,unshare,runc',
      '--json',
    ]);
    const j = JSON.parse(r.stdout) as {
      rows: { name: string; kind: string; total?: { n: number; median: number } }[];
    };
    assert.deepEqual(
      j.rows.map((x) => x.name),
      ['process', 'runc', 'fork', 'unshare', 'runc'],
    );
    for (const row of j.rows)
      assert.ok(row.total && row.total.n === 2 && row.total.median > 0, JSON.stringify(row));
    await assert.rejects(
      agni(['bench', 'cold', 'examples/noop', '--modes', 'kvm']),
      (e: { code: number; stderr: string }) => e.code === 64 && /--modes/.test(e.stderr),
    );
  });

  test('image import from a directory, image ls --json, and a function on that image', async () => {
    const { makeBusyboxRootfs } = await import('./helpers/busybox-rootfs.js');
    const rootfs = makeBusyboxRootfs(join(home, 'bb'));
    assert.match((await agni(['image', 'import', 'bb', rootfs])).stdout, /imported bb/);
    const imgs = JSON.parse((await agni(['image', 'ls', '--json'])).stdout) as {
      name: string;
      kind: string;
      layerCount: number;
      sizeBytes: number;
    }[];
    assert.equal(imgs[0]!.name, 'bb');
    assert.equal(imgs[0]!.kind, 'oci', 'an import is an OCI image of one layer');
    assert.equal(imgs[0]!.layerCount, 1);
    assert.ok(imgs[0]!.sizeBytes > 100_000);
    await agni([
      'deploy',
      fnDir({
        'agni.yaml': 'name: onbb\nruntime: bb\ncommand: "echo $(id -u) $(cat /fn/agni.yaml | wc -l)"\n',
      }),
    ]);
    assert.equal((await agni(['invoke', 'onbb'])).stdout, '65534 3\n');
    await assert.rejects(
      agni(['image', 'import', 'x', '/nonexistent']),
      (e: { code: number; stderr: string }) => e.code === 64 && /no such file/.test(e.stderr),
    );
  });

  test('SIGINT shuts down cleanly and leaves no sandbox behind', async () => {
    const slow = fnDir({ 'agni.yaml': 'name: slow\nruntime: host\ncommand: "echo go; sleep 60"\n' });
    await agni(['deploy', slow]);
    const inflight = agni(['invoke', 'slow']).catch((e) => e);
    await new Promise((r) => setTimeout(r, 700));
    const exited = new Promise<number | null>((r) => server.once('exit', r));
    server.kill('SIGINT');
    assert.equal(await exited, 0);
    await inflight;
    const list = await run('runc', ['--root', join(home, 'run', 'runc'), 'list', '-q']);
    assert.equal(list.stdout.trim(), '');
    assert.deepEqual(existsSync(join(home, 'sandboxes')) ? readdirSync(join(home, 'sandboxes')) : [], []);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(home));
  });
});

describe('quick start demo', () => {
  test('scripts/demo.sh --once deploys and invokes the examples', async () => {
    const home = tempDir('agni-demo-');
    const r = await run('bash', ['scripts/demo.sh', '--once'], {
      env: { ...process.env, AGNI_HOME: home, AGNI_PORT: String(await freePort()) },
    });
    assert.match(r.stdout, /"words": 6/);
    assert.match(r.stdout, /"count": 100/);
    assert.match(r.stdout, /\(exit code 3\)/);
  });
});
