import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { AgniError } from '../core/errors.js';
import { replyStreamed } from './stream-reply.js';

test('a call that fails on the store names no invocation in its answer: its record may never have been written', async () => {
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    reply.status(503).send({ error: { code: (err as AgniError).code } });
  });
  app.post('/call', (_req, reply) =>
    replyStreamed(reply, async (sink) => {
      sink.onQueued?.('inv-never-stored', { version: 1, alias: null });
      throw new AgniError('store_unavailable', 'the database is away');
    }),
  );
  try {
    const r = await app.inject({ method: 'POST', url: '/call' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.headers['agni-invocation-id'], undefined);
  } finally {
    await app.close();
  }
});
