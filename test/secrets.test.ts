/**
 * Function secrets end to end: real embedded server, real runc, cold, prewarmed and warm sandboxes.
 * Each function prints a hash of what it reads (never the value), and the value is then looked for
 * everywhere it must not be: the server's log (pino, at debug), every API answer, `agni inspect`,
 * error messages, the SQLite files, the sandboxes' bundles on disk, the whole $AGNI_HOME.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { type Embedded, startEmbedded } from '../src/main/embedded.js';
import { secretsRoot } from '../src/sandbox/secret-files.js';
import { runCli } from './helpers/agni-up.js';
import { testStoreFor } from './helpers/pg-store.js';
import { runcList } from './helpers/runc-list.js';
import { fnDir, tarOf } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 'secrets-test-server-token';
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

/** what each function prints: hashes of the file and the variable, the file's mode and owner, the mount's type */
const REPORT =
  'sha256sum /run/secrets/db_password | cut -d" " -f1; printf %s "$PGPASSWORD" | sha256sum | cut -d" " -f1; ' +
  'stat -c "%a %u" /run/secrets/db_password; id -u; grep " /run/secrets " /proc/mounts | cut -d" " -f3; ' +
  'sha256sum /run/secrets/api_key | cut -d" " -f1';
const SECRETS = 'secrets:\n  - {name: db_password, env: PGPASSWORD}\n  - api_key\n';

const WARM_SH = `. /agni/runtimes/shell/agni-warm.sh
handle() { ${REPORT}; }
agni_serve handle
`;

/** every file under `dir` (not following symlinks), as paths */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('secrets', () => {
  let s: Embedded;
  let home: string;
  const log: string[] = [];
  /** every answer body the API gave in this test */
  const answers: string[] = [];
  const value1 = `pw-${randomBytes(12).toString('hex')}`;
  const value2 = `pw2-${randomBytes(12).toString('hex')}`;
  const apiKey = `key-${randomBytes(12).toString('hex')}\n`;
  const forbidden = [value1, value2, apiKey.trim()].flatMap((v) => [
    v,
    Buffer.from(v).toString('base64'),
    Buffer.from(v).toString('hex'),
  ]);
  const cli = (args: string[], input?: string) => runCli(s.url, args, input, { AGNI_TOKEN: TOKEN });

  async function api(method: string, path: string, body?: { type: string; data: Buffer }) {
    const r = await fetch(s.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': body.type } : {}) },
      ...(body ? { body: new Uint8Array(body.data) } : {}),
    });
    const text = await r.text();
    answers.push(text);
    return { status: r.status, text, id: r.headers.get('agni-invocation-id') ?? '' };
  }

  const deploy = async (files: Record<string, string>) =>
    api('POST', '/v1/functions', { type: 'application/gzip', data: await tarOf(fnDir(files)) });
  const invoke = (name: string) => api('POST', `/v1/functions/${name}/invoke`);

  const expected = (pw: string) =>
    `${[sha(pw), sha(pw), '400 65534', '65534', 'tmpfs', sha(apiKey)].join('\n')}\n`;

  before(async () => {
    home = tempDir('agni-secrets-');
    const sink = new Writable({
      write(chunk, _enc, done) {
        log.push(String(chunk));
        done();
      },
    });
    s = await startEmbedded({
      home,
      store: await testStoreFor(home),
      host: '127.0.0.1',
      port: 0,
      backend: 'runc',
      slots: 4,
      token: TOKEN,
      maxPayloadBytes: 1024 * 1024,
      logger: pino({ level: 'debug' }, sink),
    });
  });
  after(async () => {
    await s?.close();
  });

  test('set from stdin and from a file; ls shows names and sizes, never values', async () => {
    const set = await cli(['secret', 'set', 'db_password'], value1);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /created secret db_password \(\d+ bytes\)/);
    const file = join(fnDir({ key: apiKey }), 'key');
    const set2 = await cli(['secret', 'set', 'api_key', '--from-file', file]);
    assert.equal(set2.code, 0, set2.stderr);
    const ls = await cli(['secret', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    const list = JSON.parse(ls.stdout) as { name: string; size: number }[];
    assert.deepEqual(
      list.map((x) => [x.name, x.size]),
      [
        ['api_key', apiKey.length],
        ['db_password', value1.length],
      ],
    );
    answers.push(ls.stdout, set.stdout, set.stderr, (await cli(['secret', 'ls'])).stdout);
    const bad = await cli(['secret', 'set', '../x'], 'v');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /name: "\.\.\/x"/);
  });

  test('a deploy naming a secret that does not exist is refused, naming it', async () => {
    const r = await deploy({
      'agni.yaml': 'name: sec-missing\nruntime: host\ncommand: [cat]\nsecrets: [db_password, nope]\n',
    });
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /no secret named nope/);
    assert.equal((await api('GET', '/v1/functions/sec-missing')).status, 404);
  });

  test('cold, prewarmed and warm sandboxes read the secrets as files (0400, nobody, tmpfs) and as env', async () => {
    const cold = await deploy({
      'agni.yaml': `name: sec-cold\nruntime: host\ncommand: ${JSON.stringify(REPORT)}\npool: {max: 0}\n${SECRETS}`,
    });
    assert.equal(cold.status, 201, cold.text);
    const pre = await deploy({
      'agni.yaml': `name: sec-pre\nruntime: host\ncommand: ${JSON.stringify(REPORT)}\npool: {min: 1, max: 1}\n${SECRETS}`,
    });
    assert.equal(pre.status, 201, pre.text);
    const warm = await deploy({
      'agni.yaml': `name: sec-warm\nruntime: host\ncommand: [/bin/sh, /fn/main.sh]\nlifecycle: warm\npool: {max: 1}\n${SECRETS}`,
      'main.sh': WARM_SH,
    });
    assert.equal(warm.status, 201, warm.text);
    for (const name of ['sec-cold', 'sec-pre', 'sec-warm']) {
      const r = await invoke(name);
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.equal(r.text, expected(value1), name);
    }
    // The pool made a sandbox ahead of the next call: it runs there, with the secrets mounted at creation.
    const hits = s.prewarm!.stats().hits;
    await until('a prepared sandbox of sec-pre waits', () => waiting(home, 'sec-pre-v1-p') >= 1);
    // While it waits, its bundle is on disk: the env-form value is not in its config.json.
    for (const f of filesUnder(join(home, 'sandboxes')))
      for (const v of forbidden) assert.ok(!readFileSync(f).includes(v), `${f} holds a secret`);
    const r = await invoke('sec-pre');
    assert.equal(r.text, expected(value1));
    assert.equal(s.prewarm!.stats().hits, hits + 1, 'served by a prewarmed sandbox');
    const w = await invoke('sec-warm');
    assert.equal(w.text, expected(value1), 'the same warm worker again');
  });

  test('a secret set again reaches new sandboxes: kept prewarmed sandboxes and warm workers are replaced', async () => {
    await until('a prepared sandbox of sec-pre waits', () => waiting(home, 'sec-pre-v1-p') >= 1);
    const set = await cli(['secret', 'set', 'db_password'], value2);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /replaced secret db_password/);
    for (const name of ['sec-cold', 'sec-pre', 'sec-warm']) {
      const r = await invoke(name);
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.equal(r.text, expected(value2), name);
    }
  });

  test('rm of a secret a function uses is refused, naming the functions; unused, it goes', async () => {
    const r = await api('DELETE', '/v1/secrets/api_key');
    assert.equal(r.status, 409);
    assert.match(r.text, /used by sec-cold, sec-pre, sec-warm/);
    const cliRm = await cli(['secret', 'rm', 'api_key']);
    assert.notEqual(cliRm.code, 0);
    answers.push(cliRm.stderr);
    assert.equal((await cli(['secret', 'set', 'spare'], 'x')).code, 0);
    assert.equal((await cli(['secret', 'rm', 'spare'])).code, 0);
    assert.equal((await api('DELETE', '/v1/secrets/spare')).status, 404);
  });

  test('the values appear nowhere: logs, API answers, inspect, errors, the database, $AGNI_HOME', async () => {
    const inv = (await api('GET', '/v1/invocations?limit=100')).text;
    const ids = (JSON.parse(inv) as { invocations: { id: string }[] }).invocations.map((i) => i.id);
    assert.ok(ids.length >= 8);
    for (const id of ids) {
      await api('GET', `/v1/invocations/${id}`);
      const inspect = await cli(['inspect', id]);
      assert.equal(inspect.code, 0, inspect.stderr);
      answers.push(inspect.stdout, (await cli(['inspect', id, '--json'])).stdout);
    }
    for (const name of ['sec-cold', 'sec-pre', 'sec-warm']) {
      await api('GET', `/v1/functions/${name}`);
      await api('GET', `/v1/functions/${name}/versions`);
      await api('GET', `/v1/functions/${name}/invocations`);
    }
    await api('GET', '/v1/functions');
    await api('GET', '/v1/secrets');
    await api('GET', '/v1/triggers');
    answers.push((await cli(['ls', '--json'])).stdout, (await cli(['logs', 'sec-cold'])).stdout);
    const everything = [...answers, ...log];
    assert.ok(log.length > 0, `the server logged (${log.length} lines)`);
    assert.ok(
      everything.join('').includes(sha(value1)),
      'the hashes are there: the search looks where output is',
    );
    for (const v of forbidden) {
      const hit = everything.find((t) => t.includes(v));
      assert.equal(hit, undefined, `found a secret in: ${hit?.slice(0, 200)}`);
    }
    // The database (with its WAL) and everything else the server keeps under its home.
    const files = filesUnder(home);
    assert.ok(files.some((f) => f.endsWith('agni.db')) || process.env.AGNI_TEST_STORE === 'postgres');
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const v of forbidden) assert.equal(bytes.indexOf(v), -1, `${f} holds a secret`);
    }
  });

  test('closed, the server leaves no secret files on /dev/shm', async () => {
    const root = secretsRoot(home);
    await s.close();
    assert.ok(
      !existsSync(root) || readdirSync(root).length === 0,
      `left in ${root}: ${existsSync(root) ? readdirSync(root) : ''}`,
    );
    if (existsSync(root)) assert.equal(statSync(root).mode & 0o077, 0, 'the root is private');
  });
});

/** prepared sandboxes of `prefix` running (waiting at their gate) */
function waiting(home: string, prefix: string): number {
  return runcList(join(home, 'run', 'runc')).filter((c) => c.id.startsWith(prefix) && c.status === 'running')
    .length;
}

async function until(what: string, check: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
