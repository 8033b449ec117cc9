import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactSecrets } from './redact.js';

test('webhook secrets are masked wherever they are, and the input is left alone', () => {
  const fn = {
    function: 'f',
    manifest: {
      name: 'f',
      env: { secret: 'not-a-webhook' },
      triggers: [
        { kind: 'webhook', webhook: '/a', secret: 'abcdefgh' },
        { kind: 'webhook', webhook: '/b' },
        { kind: 'cron', cron: '* * * * *' },
      ],
    },
  };
  const body = { functions: [fn], n: 1, at: new Date(0) };
  const out = redactSecrets(body);
  assert.equal(out.functions[0]!.manifest.triggers[0]!.secret, '***');
  assert.equal('secret' in out.functions[0]!.manifest.triggers[1]!, false);
  assert.equal(out.functions[0]!.manifest.env.secret, 'not-a-webhook');
  assert.equal(fn.manifest.triggers[0]!.secret, 'abcdefgh');
  assert.ok(out.at instanceof Date);
  assert.ok(!JSON.stringify(out).includes('abcdefgh'));
});

test('values without secrets are returned as they are, not copied', () => {
  const v = { invocations: [{ id: 'x', phases: { a: 1 } }] };
  assert.equal(redactSecrets(v), v);
  assert.equal(redactSecrets('text'), 'text');
  assert.equal(redactSecrets(null), null);
  const buf = Buffer.from('abc');
  assert.equal(redactSecrets(buf), buf);
});

test('env values of every manifest are masked; the names stay', () => {
  const v = {
    versions: [
      { version: 1, manifest: { name: 'f', runtime: 'host', env: { API_KEY: 'k-123', MODE: 'x' } } },
      { version: 2, manifest: { name: 'f', runtime: 'host', env: {} } },
    ],
  };
  const out = redactSecrets(v);
  assert.deepEqual(out.versions[0]!.manifest.env, { API_KEY: '***', MODE: '***' });
  assert.equal(out.versions[1], v.versions[1], 'nothing to mask: shared, not copied');
  assert.equal(v.versions[0]!.manifest.env.API_KEY, 'k-123');
  assert.ok(!JSON.stringify(out).includes('k-123'));
});
