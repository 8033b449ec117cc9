/**
 * Every route of a real server, with every scope and with no token: the answer is 401 without a
 * valid token, 403 when the token's scopes fall short (src/api/route-scopes.ts), and anything else
 * when they cover it. Routes are enumerated with Fastify's onRoute (server.ts routesOf): a route
 * added without a scope fails the first test here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROUTE_SCOPES, scopeOf } from '../src/api/route-scopes.js';
import { routesOf } from '../src/api/server.js';
import { grants, parseScope, type Scope } from '../src/core/scopes.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const SERVER_TOKEN = 'server-token-for-route-walk';
/** the function the walk acts on; limited scopes name it (or not) */
const FN = 'fn-x';

describe('route scopes', () => {
  let s: TestServer;
  let invocationId = '';
  const tokens = new Map<string, { token: string; scopes: Scope[] }>();

  const call = (method: string, path: string, token?: string, body?: { type: string; data: Buffer }) =>
    fetch(s.url + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': body.type } : {}),
      },
      ...(body ? { body: new Uint8Array(body.data) } : {}),
    });

  before(async () => {
    s = await startTestServer({ token: SERVER_TOKEN, backend: 'process' });
    const tar = await tarOf(fnDir({ 'agni.yaml': `name: ${FN}\nruntime: host\ncommand: [cat]\n` }));
    const d = await call('POST', '/v1/functions', SERVER_TOKEN, { type: 'application/gzip', data: tar });
    assert.equal(d.status, 201, await d.text());
    const inv = await call('POST', `/v1/functions/${FN}/invoke`, SERVER_TOKEN, {
      type: 'application/octet-stream',
      data: Buffer.from('hi'),
    });
    assert.equal(inv.status, 200, await inv.text());
    invocationId = String(inv.headers.get('agni-invocation-id'));
    assert.match(invocationId, /^inv-/);
    const specs: Record<string, string[]> = {
      admin: ['admin'],
      deploy: ['deploy'],
      invoke: ['invoke'],
      both: ['deploy', 'invoke'],
      'invoke-fn': [`invoke:${FN}`],
      'invoke-other': ['invoke:fn-other'],
      'deploy-fn': [`deploy:${FN}`],
    };
    for (const [name, scopes] of Object.entries(specs)) {
      const r = await call('POST', '/v1/tokens', SERVER_TOKEN, {
        type: 'application/json',
        data: Buffer.from(JSON.stringify({ name, scopes })),
      });
      const text = await r.text();
      assert.equal(r.status, 201, text);
      const { token } = JSON.parse(text) as { token: string };
      tokens.set(name, { token, scopes: scopes.map((x) => parseScope(x)) });
    }
    tokens.set('server', { token: SERVER_TOKEN, scopes: [{ kind: 'admin' }] });
  });
  after(async () => {
    await s?.close();
  });

  test('every route the server registered has a scope in the table (fail closed otherwise)', () => {
    const routes = routesOf(s.api);
    assert.ok(routes.length > 50, `routes found: ${routes.length}`);
    const missing = routes.filter((r) => !(r.replace(/^HEAD /, 'GET ') in ROUTE_SCOPES));
    assert.deepEqual(missing, [], 'add these to src/api/route-scopes.ts');
  });

  test('every route, with no token, a wrong token and each scope: 401, 403 or allowed', async () => {
    const routes = routesOf(s.api)
      .filter((r) => !r.startsWith('HEAD '))
      // Destructive for the function the walk needs: last.
      .sort(
        (a, b) =>
          Number(a.startsWith('DELETE /v1/functions/')) - Number(b.startsWith('DELETE /v1/functions/')),
      );
    const failures: string[] = [];
    for (const route of routes) {
      const [method, pattern] = route.split(' ') as [string, string];
      const rule = scopeOf(method, pattern)!;
      const path = pattern
        .replace(':name', pattern.startsWith('/v1/functions') || pattern.startsWith('/2015') ? FN : 'zz-none')
        .replace(
          ':id',
          pattern.startsWith('/v1/invocations') || pattern.startsWith('/v1/failed')
            ? invocationId
            : 'zz-none',
        )
        .replace(':version', '1')
        .replace(':alias', 'zz-alias')
        .replace(':index', '0')
        .replace('*', 'zz-hook');
      const q = pattern === '/v1/pipe' ? `?f=${FN}` : '';
      const check = async (who: string, token: string | undefined, want: 'allowed' | 401 | 403) => {
        const r = await call(method, path + q, token);
        // A live stream (GET /v1/invocations/stream) never ends by itself: its status is the answer.
        const live = r.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
        if (live) await r.body?.cancel();
        const body = live ? '' : await r.text();
        // The Lambda API says "who are you" as AWS does: 403 UnrecognizedClientException.
        const lambda = pattern.startsWith('/2015-03-31/');
        const type = r.headers.get('x-amzn-errortype');
        const ok =
          want === 'allowed'
            ? r.status !== 401 && r.status !== 403
            : want === 401 && lambda
              ? r.status === 403 && type === 'UnrecognizedClientException'
              : r.status === want;
        if (!ok) failures.push(`${route} as ${who}: got ${r.status} (${body.slice(0, 160)}), want ${want}`);
        // The Lambda API answers in Lambda's shape (src/core/lambda-errors.ts).
        if (want === 403 && r.status === 403)
          assert.ok(
            body.includes('"forbidden"') || r.headers.get('x-amzn-errortype') === 'AccessDeniedException',
            `${route} as ${who}: ${body}`,
          );
      };
      if (rule.need === 'public') {
        await check('no token', undefined, 'allowed');
        continue;
      }
      await check('no token', undefined, 401);
      await check('a wrong token', 'agni_not-a-token', 401);
      const fnNamed = rule.fn === undefined || rule.fn === 'manifest' ? undefined : FN;
      for (const [who, t] of tokens) {
        // A deploy upload's function is read from its body, which this walk does not send.
        const allowed =
          grants(t.scopes, rule.need, fnNamed) ||
          (rule.fn === 'manifest' && t.scopes.some((x) => rule.need.includes(x.kind)));
        await check(who, t.token, allowed ? 'allowed' : 403);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('a limited deploy token deploys its own function and is refused another, naming it', async () => {
    const mine = await tarOf(fnDir({ 'agni.yaml': `name: ${FN}\nruntime: host\ncommand: [cat]\n` }));
    const other = await tarOf(fnDir({ 'agni.yaml': 'name: fn-other\nruntime: host\ncommand: [cat]\n' }));
    const t = tokens.get('deploy-fn')!.token;
    const ok = await call('POST', '/v1/functions', t, { type: 'application/gzip', data: mine });
    assert.equal(ok.status, 201, await ok.text());
    const no = await call('POST', '/v1/functions', t, { type: 'application/gzip', data: other });
    assert.equal(no.status, 403);
    assert.match(await no.text(), /fn-other/);
    assert.equal(
      (await call('GET', '/v1/functions/fn-other', SERVER_TOKEN)).status,
      404,
      'nothing was deployed',
    );
  });

  test('a named token never reaches the function, whatever header carries it', async () => {
    const tar = await tarOf(fnDir({ 'agni.yaml': 'name: fn-env\nruntime: host\ncommand: [env]\n' }));
    assert.equal(
      (await call('POST', '/v1/functions', SERVER_TOKEN, { type: 'application/gzip', data: tar })).status,
      201,
    );
    const t = tokens.get('both')!.token;
    const r = await fetch(`${s.url}/v1/functions/fn-env/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}`, 'x-copy': `copied ${t}`, 'x-other': 'kept' },
    });
    const out = await r.text();
    assert.equal(r.status, 200, out);
    assert.match(out, /AGNI_HTTP_HEADER_X_OTHER=kept/, 'the request context is there');
    assert.ok(!out.includes(t), "no token in the function's environment");
  });

  test('a revoked token is refused at once; the list never shows a token', async () => {
    const r = await call('GET', '/v1/tokens', SERVER_TOKEN);
    const text = await r.text();
    for (const [, t] of tokens) assert.ok(!text.includes(t.token), 'no token in the listing');
    const list = JSON.parse(text) as {
      tokens: { name: string; scopes: string[]; last_used_at: number | null }[];
    };
    assert.deepEqual(list.tokens.find((x) => x.name === 'invoke-fn')?.scopes, [`invoke:${FN}`]);
    assert.ok(list.tokens.find((x) => x.name === 'admin')?.last_used_at, 'last use is recorded');
    const t = tokens.get('invoke')!.token;
    assert.equal((await call('GET', '/v1/functions', t)).status, 200);
    assert.equal((await call('DELETE', '/v1/tokens/invoke', SERVER_TOKEN)).status, 200);
    assert.equal((await call('GET', '/v1/functions', t)).status, 401);
  });
});
