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
