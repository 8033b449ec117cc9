/**
 * Failures that explain themselves, through the real CLI binary: what failed and why (a function's
 * stderr, a refused token, a lost connection, a bad AGNI_URL), a hint, a distinct exit code, and
 * never a stack trace, whatever the network or the reader of stdout does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI } from './helpers/agni-up.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir } from './helpers/tarball.js';

const TOKEN = 'cli-failures-token';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bash -c script` with `agni` meaning the real CLI binary; stdin is /dev/null. */
function sh(script: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', `agni() { node ${CLI} "$@"; }\n${script}`], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function noStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /node:internal|Error \[ERR_|\n\s*\^/, `no raw Node error:\n${r.stderr}`);
}

/** A TCP server that does `onData` to each connection once the client sent something. */
async function hostile(onData: (s: net.Socket) => void): Promise<{ url: string; close(): void }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => onData(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

describe('cli failures', () => {
  let s: TestServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    s = await startTestServer({ token: TOKEN });
    env = { AGNI_URL: s.url, AGNI_TOKEN: TOKEN };
    const deploy = async (yaml: string) => {
      const r = await sh(`agni deploy ${fnDir({ 'agni.yaml': yaml })}`, env);
      assert.equal(r.code, 0, r.stderr);
    };
    await deploy(
      'name: broken\nruntime: host\ncommand: "echo starting >&2; echo disk on fire >&2; exit 3"\n',
    );
    await deploy('name: halfway\nruntime: host\ncommand: "echo partial; echo late trouble >&2; exit 4"\n');
    await deploy('name: big\nruntime: host\ncommand: "head -c 50000000 /dev/zero"\n');
    await deploy('name: slow\nruntime: host\ncommand: "echo go; sleep 30"\n');
    await deploy('name: eager\nruntime: host\ncommand: "echo ready; cat"\n');
  });
  after(async () => {
    await s.close();
  });

  test('a failing invoke prints its stderr tail, then the hint, and passes its exit code', async () => {
    const r = await sh('agni invoke broken', env);
    assert.equal(r.code, 3);
    assert.match(
      r.stderr,
      /^error: broken exited with code 3\nstderr:\n {2}starting\n {2}disk on fire\nhint: /,
    );
    noStack(r);
    // Output had already streamed: the stderr comes from the record.
    const h = await sh('agni invoke halfway', env);
    assert.equal(h.code, 4);
    assert.equal(h.stdout, 'partial\n');
    assert.match(
      h.stderr,
      /halfway failed after writing output \(exit code 4\)\nstderr:\n {2}late trouble\nhint: /,
    );
  });

  test('agni logs shows a running invocation as running, not queued', async () => {
    const p = spawn(process.execPath, [CLI, 'invoke', 'slow'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((resolve) => p.stdout.on('data', (d) => String(d).includes('go') && resolve()));
      const r = await sh('agni logs slow --json', env);
      const [rec] = JSON.parse(r.stdout) as { status: string }[];
      assert.equal(rec!.status, 'running');
      assert.match((await sh('agni logs slow', env)).stdout, /\brunning\b/);
    } finally {
      p.kill('SIGKILL');
    }
  });

  test('a reader that goes away (head) ends the CLI quietly with 141, no EPIPE trace', async () => {
    const rc = 'echo "rc=$' + '{PIPESTATUS[0]}"'; // the CLI's own exit code, not the pipe's
    const logs = await sh(`agni logs -n 1000 | true; ${rc}`, env);
    assert.match(logs.stdout, /rc=141/);
    assert.equal(logs.stderr, '');
    const big = await sh(`agni invoke big | head -c 10 | wc -c; ${rc}`, env);
    assert.match(big.stdout, /^10\nrc=141\n$/);
    assert.equal(big.stderr, '');
  });

  test('a missing token and a wrong token are told apart', async () => {
    const missing = await sh('agni ls', { ...env, AGNI_TOKEN: '' });
    assert.equal(missing.code, 77);
    assert.match(missing.stderr, /this server requires a token/);
    const wrong = await sh('agni ls', { ...env, AGNI_TOKEN: 'not-the-token' });
    assert.equal(wrong.code, 77);
    assert.match(wrong.stderr, /the server refused the token/);
    assert.doesNotMatch(wrong.stderr, /requires a token/);
  });

  test('an AGNI_URL without a scheme is named, with the fix', async () => {
    for (const url of ['127.0.0.1:8780', 'localhost:8780']) {
      for (const verb of ['ls', 'invoke x --data y']) {
        const r = await sh(`agni ${verb}`, { AGNI_URL: url });
        assert.equal(r.code, 64, r.stderr);
        assert.match(r.stderr, /AGNI_URL ".*" is not an http:\/\/ or https:\/\/ URL/);
        assert.match(r.stderr, new RegExp(`hint: e\\.g\\. AGNI_URL=http://${url}`));
        noStack(r);
      }
    }
  });

  test('network errors are named: refused, reset, dropped mid-upload, unknown host', async () => {
    const closed = await hostile(() => {});
    closed.close();
    const refused = await sh('agni ls', { AGNI_URL: closed.url });
    assert.equal(refused.code, 69);
    assert.match(
      refused.stderr,
      /cannot reach the Agni server at http:\/\/127\.0\.0\.1:\d+: nothing listens there/,
    );
    assert.match(refused.stderr, /hint: start one with `agni up`/);
    noStack(refused);

    const dns = await sh('agni ls', { AGNI_URL: 'http://agni-no-such-host.invalid:8780' });
    assert.equal(dns.code, 69);
    assert.match(dns.stderr, /cannot reach the Agni server at .*: its host name/);
    assert.match(dns.stderr, /hint: check the host in AGNI_URL/);
    noStack(dns);

    const reset = await hostile((c) => c.resetAndDestroy());
    try {
      for (const verb of ['ls', 'invoke x --data y']) {
        const r = await sh(`agni ${verb}`, { AGNI_URL: reset.url });
        assert.equal(r.code, 69, r.stderr);
        assert.match(
          r.stderr,
          /lost the connection to the Agni server at .*: the server closed the connection/,
        );
        noStack(r);
      }
    } finally {
      reset.close();
    }

    // A deploy whose server goes away while the upload is under way.
    const dir = fnDir({ 'agni.yaml': 'name: heavy\nruntime: host\ncommand: cat\n' });
    writeFileSync(join(dir, 'blob.bin'), randomBytes(8 * 1024 * 1024));
    const drop = await hostile((c) => c.destroy());
    try {
      const r = await sh(`agni deploy ${dir}`, { AGNI_URL: drop.url });
      assert.equal(r.code, 69, r.stderr);
      assert.match(r.stderr, /lost the connection to the Agni server/);
      assert.match(r.stderr, /hint: the server may have stopped/);
      noStack(r);
    } finally {
      drop.close();
    }
  });

  test('a system error (a port in use) is named with what to do, not called a bug', async () => {
    const busy = await hostile(() => {});
    try {
      const port = new URL(busy.url).port;
      const r = await sh(`agni up --port ${port} --home ${fnDir({})}`, {});
      assert.equal(r.code, 71, r.stderr);
      assert.match(
        r.stderr,
        /^error: listen EADDRINUSE: .*\nhint: another process .* choose another --port\n$/,
      );
      noStack(r);
    } finally {
      busy.close();
    }
  });

  test('agni pipe starts its stages before the first input byte arrives', async () => {
    const p = spawn(process.execPath, [CLI, 'pipe', 'eager'], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.on('close', r));
    // Nothing is written to the pipe's stdin until the first stage's output has come back.
    await new Promise<void>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += d;
        if (out.includes('ready')) resolve();
      });
      p.on('close', () => reject(new Error(`agni pipe ended before any output: ${err}`)));
    });
    assert.equal(out, 'ready\n');
    p.stdin.end('then the input\n');
    assert.equal(await exited, 0, err);
    assert.equal(out, 'ready\nthen the input\n');
  });
});
