import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { isUiPath, registerUiRoutes, uiFile } from './ui-static.js';

test('dashboard paths', () => {
  assert.ok(isUiPath('/ui'));
  assert.ok(isUiPath('/ui/'));
  assert.ok(isUiPath('/ui/jobs?x=1'));
  assert.ok(!isUiPath('/uix'));
  assert.ok(!isUiPath('/v1/ui'));
});

test('a request path never names a file outside the build', () => {
  assert.equal(uiFile('/srv/ui', '/ui/assets/a.js'), '/srv/ui/assets/a.js');
  assert.equal(uiFile('/srv/ui', '/ui/../secret'), undefined);
  assert.equal(uiFile('/srv/ui', '/ui/%2e%2e/%2e%2e/etc/passwd'), undefined);
  assert.equal(uiFile('/srv/ui', '/ui/..%2fx'), undefined);
  assert.equal(uiFile('/srv/ui', '/ui/%E0%A4%A'), undefined);
  assert.equal(uiFile('/srv/ui', '/ui/a%00b'), undefined);
});

test('files with their types and cache headers; other paths are the SPA; a missing asset is a 404', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agni-ui-'));
  try {
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>agni</title>');
    writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
    writeFileSync(join(dir, 'assets', 'app-1234.css'), 'body{}');
    const app = Fastify();
    registerUiRoutes(app, () => ({ tokenRequired: true, features: {} }), dir);

    const redirect = await app.inject('/ui');
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, '/ui/');

    const index = await app.inject('/ui/');
    assert.equal(index.statusCode, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.match(index.body, /<title>agni/);
    assert.match(
      String(index.headers['content-security-policy']),
      /default-src 'self'.*frame-ancestors 'none'/,
    );
    assert.equal(index.headers['x-frame-options'], 'DENY');
    assert.equal(index.headers['x-content-type-options'], 'nosniff');

    const js = await app.inject('/ui/assets/app-1234.js');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal(js.body, 'console.log(1)');
    assert.equal(
      (await app.inject('/ui/assets/app-1234.css')).headers['content-type'],
      'text/css; charset=utf-8',
    );

    const route = await app.inject('/ui/invocations/abc?status=failed');
    assert.equal(route.statusCode, 200);
    assert.match(route.body, /<title>agni/);

    assert.equal((await app.inject('/ui/assets/gone-9999.js')).statusCode, 404);
    assert.notEqual((await app.inject('/ui/%2e%2e/%2e%2e/etc/passwd')).statusCode, 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a build the dashboard answers 404 with how to build it', async () => {
  const app = Fastify();
  registerUiRoutes(app, () => ({ tokenRequired: false, features: {} }), join(tmpdir(), 'agni-no-such-ui'));
  const res = await app.inject('/ui/');
  assert.equal(res.statusCode, 404);
});
