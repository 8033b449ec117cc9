/** The auth hook on a real Fastify instance: a route missing from the scope table is refused to everyone. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { ApiTokens } from '../app/api-tokens.js';
import { authorize } from './auth-hook.js';

function app(serverToken?: string) {
  const a = Fastify();
  const tokens = new ApiTokens(undefined, serverToken);
  a.addHook('onRequest', async (req) => {
    await authorize(req, { tokens, signed: async () => false, invocationFunction: async () => undefined });
  });
  a.setErrorHandler((err, _req, reply) => {
    const e = err as { status?: number; code?: string };
    reply.status(e.status ?? 500).send({ code: e.code });
  });
  a.get('/healthz', async () => ({ ok: true }));
  a.get('/v1/functions', async () => ({ functions: [] }));
  a.get('/v1/not-in-the-table', async () => ({ leaked: true }));
  return a;
}

test('a route without a scope is refused, even to the server token and on a server without tokens', async () => {
  for (const token of ['tok', undefined]) {
    const a = app(token);
    const r = await a.inject({ url: '/v1/not-in-the-table', headers: { authorization: 'Bearer tok' } });
    assert.equal(r.statusCode, 403, `token ${token}`);
    assert.equal(r.json().code, 'forbidden');
    assert.ok(!r.body.includes('leaked'));
    await a.close();
  }
});

test('the server token is admin; public routes need none; a wrong or missing token is 401', async () => {
  const a = app('tok');
  assert.equal((await a.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal((await a.inject({ url: '/v1/functions' })).statusCode, 401);
  assert.equal(
    (await a.inject({ url: '/v1/functions', headers: { authorization: 'Bearer tok2' } })).statusCode,
    401,
  );
  assert.equal(
    (await a.inject({ url: '/v1/functions', headers: { authorization: 'Bearer tok' } })).statusCode,
    200,
  );
  await a.close();
});
