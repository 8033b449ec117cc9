/**
 * Requests carry their context, end to end (real embedded server, runc, HTTP, the real CLI): a
 * webhook's method, path, query and headers reach the function as AGNI_HTTP_* in a cold sandbox, a
 * prewarmed one and warm workers (sh, Python, Node helpers); credentials never do; oversized headers
 * are left out as documented; async attempts and retries carry it too. And per-call timeouts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { MAX_HEADER_BYTES } from '../src/core/request-context.js';
import { runCli } from './helpers/agni-up.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const TOKEN = `tok-${randomBytes(8).toString('hex')}`;
const SECRET = `sec-${randomBytes(8).toString('hex')}`;
const auth = { authorization: `Bearer ${TOKEN}` };
const unique = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;

/** prints the request's variables, sorted, then exits with $1 (default 0) */
const PRINT_ENV = `env | grep '^AGNI_HTTP_' | sort; exit \${1:-0}`;

const SH_WORKER = `. "$AGNI_RUNTIMES/shell/agni-warm.sh"
show() { env | grep '^AGNI_HTTP_' | sort; true; }
agni_serve show
`;
const PY_WORKER = `import os, sys
sys.path.insert(0, "/agni/runtimes/python")
import agni_warm
def handle(payload, request):
    lines = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("AGNI_HTTP_"))
    seen = "none" if request is None else f"{request['method']} {request['path']} {request['query']} {request['headers'].get('x-github-event')}"
    return "\\n".join(lines + ["arg: " + seen]) + "\\n"
agni_warm.serve(handle)
`;
const NODE_WORKER = `import { serve } from '/agni/runtimes/node/agni-warm.mjs';
serve(async (payload, request) => {
  const lines = Object.entries(process.env).filter(([k]) => k.startsWith('AGNI_HTTP_')).map(([k, v]) => k + '=' + v).sort();
  const seen = request === null ? 'none' : [request.method, request.path, request.query, request.headers['x-github-event']].join(' ');
  return lines.concat(['arg: ' + seen]).join('\\n') + '\\n';
});
`;

function yaml(name: string, command: string[], extra = ''): string {
  return `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\ntriggers:\n  - webhook: /ctx/${name}\n    secret: ${SECRET}\n${extra}`;
}

/** the real CLI with this server's token */
const agni = async (args: string[], url: string) => {
  const r = await runCli(url, args, undefined, { AGNI_TOKEN: TOKEN });
  return { code: r.code, out: r.stdout, err: r.stderr };
};

describe('request context and per-call timeouts', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ token: TOKEN, slots: 4 });
  });
  after(async () => {
    await s?.close();
  });

  const deploy = async (files: Record<string, string>) => {
    const r = await fetch(`${s.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip', ...auth },
      body: new Uint8Array(await tarOf(fnDir(files))),
    });
    assert.equal(r.status, 201, await r.text());
  };

  /** a GitHub-like webhook call with a query string, the secret, the token and an oversized header */
  const hook = (fn: string, query = '?ref=main&n=1', extra: Record<string, string> = {}) =>
    fetch(`${s.url}/hooks/ctx/${fn}${query}`, {
      method: 'POST',
      body: '{"zen":"hi"}',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-agni-secret': SECRET,
        cookie: 'session=abc',
        ...auth,
        'x-big': 'y'.repeat(MAX_HEADER_BYTES),
        ...extra,
      },
    });

  /** what every function printed must show, whatever its protocol */
  const assertSaw = (fn: string, text: string) => {
    assert.match(text, /^AGNI_HTTP_METHOD=POST$/m, text);
    assert.match(text, new RegExp(`^AGNI_HTTP_PATH=/hooks/ctx/${fn}$`, 'm'));
    assert.match(text, /^AGNI_HTTP_QUERY=ref=main&n=1$/m);
    assert.match(text, /^AGNI_HTTP_HEADER_X_GITHUB_EVENT=push$/m);
    assert.match(text, /^AGNI_HTTP_HEADER_CONTENT_TYPE=application\/json$/m);
    assert.match(text, /^AGNI_HTTP_HEADERS=\{.*"x-github-event":"push".*\}$/m);
    // credentials are absent, by name and by value; the oversized header is left out and counted
    for (const gone of ['AUTHORIZATION', 'X_AGNI_SECRET', 'COOKIE', 'X_BIG'])
      assert.doesNotMatch(text, new RegExp(`AGNI_HTTP_HEADER_${gone}=`), gone);
    assert.ok(!text.includes(SECRET) && !text.includes(TOKEN), 'no secret, no token');
    assert.ok(!/authorization|x-agni-secret|cookie/i.test(text), 'not in the JSON either');
    assert.match(text, /^AGNI_HTTP_TRUNCATED=headers:1$/m);
  };

  test('a webhook: cold, prewarmed (pool.min) and warm (sh, Python, Node) functions see the request', async () => {
    const cold = unique('ctx-cold');
    const pre = unique('ctx-pre');
    const wsh = unique('ctx-wsh');
    const wpy = unique('ctx-wpy');
    const wnode = unique('ctx-wnode');
    await deploy({ 'agni.yaml': yaml(cold, ['sh', '-c', PRINT_ENV]) });
    await deploy({ 'agni.yaml': yaml(pre, ['sh', '-c', PRINT_ENV], 'pool:\n  min: 1\n') });
    await deploy({
      'agni.yaml': yaml(wsh, ['sh', '/fn/main.sh'], 'lifecycle: warm\n'),
      'main.sh': SH_WORKER,
    });
    await deploy({
      'agni.yaml': yaml(wpy, ['python3', '/fn/main.py'], 'lifecycle: warm\n'),
      'main.py': PY_WORKER,
    });
    await deploy({
      'agni.yaml': yaml(wnode, ['node', '/fn/main.mjs'], 'lifecycle: warm\n'),
      'main.mjs': NODE_WORKER,
    });

    for (const fn of [cold, wsh, wpy, wnode]) {
      const r = await hook(fn);
      const text = await r.text();
      assert.equal(r.status, 200, `${fn}: ${text}`);
      assertSaw(fn, text);
    }

    // prewarmed: the sandbox waited (created before the request existed) and got it through its gate
    await hook(pre).then((r) => r.text());
    const end = Date.now() + 10_000;
    // held(), not stats().current: a sandbox still being prepared would not serve the call
    while (!s.prewarm!.held().some((k) => k.startsWith(`${pre}@`)) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    const hits = s.prewarm!.stats().hits;
    const r = await hook(pre);
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.equal(s.prewarm!.stats().hits, hits + 1, 'it ran in a prepared sandbox');
    assertSaw(pre, text);

    // The helpers' handler argument, and nothing left over for a call without a request (a pipe).
    for (const fn of [wpy, wnode]) {
      const t = await (await hook(fn)).text();
      assert.match(t, new RegExp(`^arg: POST /hooks/ctx/${fn} ref=main&n=1 push$`, 'm'));
    }
    for (const fn of [wsh, wpy, wnode]) {
      const p = await fetch(`${s.url}/v1/pipe?f=${fn}`, {
        method: 'POST',
        body: 'x',
        headers: { 'content-type': 'application/vnd.agni.stream', ...auth },
      });
      const t = await p.text();
      assert.equal(p.status, 200, t);
      assert.doesNotMatch(t, /AGNI_HTTP_/, `${fn}: the previous call's request is gone`);
      if (fn !== wsh) assert.match(t, /^arg: none$/m);
    }

    // An HTTP invoke carries its request too, without the token it was authorized with.
    const inv = await fetch(`${s.url}/v1/functions/${cold}/invoke?x=1`, {
      method: 'POST',
      body: '',
      headers: { ...auth, 'x-trace': 't1' },
    });
    const it = await inv.text();
    assert.equal(inv.status, 200, it);
    assert.match(it, new RegExp(`^AGNI_HTTP_PATH=/v1/functions/${cold}/invoke$`, 'm'));
    assert.match(it, /^AGNI_HTTP_QUERY=x=1$/m);
    assert.match(it, /^AGNI_HTTP_HEADER_X_TRACE=t1$/m);
    assert.ok(!it.includes(TOKEN));
  });

  test('async webhooks carry the request to every attempt, the last retry included', async () => {
    const fn = unique('ctx-async');
    // prints what it saw on stderr and fails: two attempts, then the dead-letter list
    await deploy({
      'agni.yaml': yaml(
        fn,
        ['sh', '-c', `${PRINT_ENV.replace('sort;', 'sort >&2;')}`, 'sh', '3'],
        'retries: 1\nbackoff:\n  initial: 100ms\n',
      ),
    });
    const r = await hook(fn, '?ref=main&n=1&async=1');
    assert.equal(r.status, 202, await r.clone().text());
    const { id } = (await r.json()) as { id: string };
    const res = await fetch(`${s.url}/v1/invocations/${id}/result?wait=30`, { headers: auth });
    assert.equal(res.headers.get('agni-attempts'), '2');
    assert.equal(res.headers.get('agni-dead-letter'), 'true');
    const rec = (await (await fetch(`${s.url}/v1/invocations/${id}`, { headers: auth })).json()) as {
      stderrTail: string;
    };
    assert.match(rec.stderrTail, /^AGNI_HTTP_QUERY=ref=main&n=1&async=1$/m);
    assert.match(rec.stderrTail, /^AGNI_HTTP_HEADER_X_GITHUB_EVENT=push$/m);
    assert.ok(!rec.stderrTail.includes(SECRET) && !rec.stderrTail.includes(TOKEN));
  });

  test('--timeout / Agni-Timeout shortens one call; longer than the limit or malformed is refused', async () => {
    const fn = unique('slow');
    await deploy({ 'agni.yaml': yaml(fn, ['sleep', '5'], 'limits:\n  timeout: 30s\n') });

    // the real CLI: ends as a timeout (exit 124) after about a second, not after the 5 s sleep
    const t0 = Date.now();
    const c = await agni(['invoke', fn, '--timeout', '1s', '--data', ''], s.url);
    assert.equal(c.code, 124, c.err);
    assert.ok(Date.now() - t0 < 4500, 'killed at the per-call deadline');
    assert.match(c.err, /1000 ms deadline/);

    // the header on a sync invoke: 504, and the record says which timeout and deadline applied
    const r = await fetch(`${s.url}/v1/functions/${fn}/invoke`, {
      method: 'POST',
      headers: { ...auth, 'agni-timeout': '1s' },
    });
    assert.equal(r.status, 504);
    const id = r.headers.get('agni-invocation-id');
    const rec = (await (await fetch(`${s.url}/v1/invocations/${id}`, { headers: auth })).json()) as {
      status: string;
      timeoutMs: number;
      deadline: number;
      createdAt: number;
    };
    assert.equal(rec.status, 'timeout');
    assert.equal(rec.timeoutMs, 1000);
    assert.ok(rec.deadline >= rec.createdAt + 1000 && rec.deadline < rec.createdAt + 5000);

    const shown = await agni(['inspect', String(id)], s.url);
    assert.match(shown.out, /^timeout {5}1\.00s \(deadline \d{4}-/m);

    // a prewarmed pool's miss (min 0: nothing waits) and a warm worker get it too
    const pre = unique('slow-pre');
    const warm = unique('slow-warm');
    await deploy({
      'agni.yaml': yaml(pre, ['sleep', '5'], 'limits:\n  timeout: 30s\npool:\n  min: 0\n  max: 1\n'),
    });
    await deploy({
      'agni.yaml': yaml(warm, ['sh', '/fn/main.sh'], 'limits:\n  timeout: 30s\nlifecycle: warm\n'),
      'main.sh': '. "$AGNI_RUNTIMES/shell/agni-warm.sh"\nnap() { sleep 5; }\nagni_serve nap\n',
    });
    for (const f of [pre, warm]) {
      const t1 = Date.now();
      const x = await fetch(`${s.url}/v1/functions/${f}/invoke`, {
        method: 'POST',
        headers: { ...auth, 'agni-timeout': '1s' },
      });
      assert.equal(x.status, 504, f);
      assert.ok(Date.now() - t1 < 4500, `${f} was killed at the per-call deadline`);
    }

    // async: stored with the invocation, applied to the attempt
    const a = await fetch(`${s.url}/v1/functions/${fn}/async`, {
      method: 'POST',
      headers: { ...auth, 'agni-timeout': '500ms' },
    });
    assert.equal(a.status, 202);
    const aid = ((await a.json()) as { id: string }).id;
    const ar = await fetch(`${s.url}/v1/invocations/${aid}/result?wait=20`, { headers: auth });
    assert.equal(ar.headers.get('agni-status'), 'timeout');

    // pipe
    const p = await agni(['pipe', fn, '--timeout', '1s', '--data', ''], s.url);
    assert.equal(p.code, 124, p.err);

    // refused, naming the header or flag, before anything is recorded
    const before = (
      (await (await fetch(`${s.url}/v1/functions/${fn}/invocations`, { headers: auth })).json()) as {
        invocations: unknown[];
      }
    ).invocations.length;
    for (const [route, value, why] of [
      ['invoke', 'soon', /Agni-Timeout.*expected a duration/],
      ['invoke', '60s', /Agni-Timeout.*longer than .*limits\.timeout of 30000 ms/],
      ['async', '60s', /Agni-Timeout.*longer than/],
      ['async', '-1s', /Agni-Timeout.*expected a duration/],
    ] as const) {
      const b = await fetch(`${s.url}/v1/functions/${fn}/${route}`, {
        method: 'POST',
        headers: { ...auth, 'agni-timeout': value },
      });
      assert.equal(b.status, 400, `${route} ${value}`);
      const e = ((await b.json()) as { error: { code: string; message: string } }).error;
      assert.equal(e.code, 'bad_request');
      assert.match(e.message, why);
    }
    const pb = await fetch(`${s.url}/v1/pipe?f=${fn}`, {
      method: 'POST',
      headers: { ...auth, 'agni-timeout': '31s', 'content-type': 'application/vnd.agni.stream' },
    });
    assert.equal(pb.status, 400);
    const after = (
      (await (await fetch(`${s.url}/v1/functions/${fn}/invocations`, { headers: auth })).json()) as {
        invocations: unknown[];
      }
    ).invocations.length;
    assert.equal(after, before, 'a refused call leaves no record');
    const bad = await agni(['invoke', fn, '--timeout', 'soon', '--data', ''], s.url);
    assert.equal(bad.code, 64);
    assert.match(bad.err, /--timeout: expected a duration/);
  });
});
