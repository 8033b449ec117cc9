import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseManifest } from './manifest.js';
import { redactManifestText, SECRET_PLACEHOLDER } from './manifest-secrets.js';

test('webhook secrets are replaced, also in comments and aliases; the rest of the file stays', () => {
  const text = [
    '# my function (old secret: hunter2-old-one)',
    'name: f',
    'runtime: host',
    'command: cat',
    'env: {MODE: fast}',
    'triggers:',
    '  - webhook: /a',
    '    secret: hunter2-secret-a   # rotate monthly',
    '  - webhook: /b',
    '    secret: &s "hunter2-secret-b"',
    '  - cron: "* * * * *"',
    '    payload: *s',
    '  - webhook: /c',
    '# hunter2-secret-a was here',
    '',
  ].join('\n');
  const r = redactManifestText(text);
  assert.equal(r.redacted, 2);
  assert.ok(!r.text.includes('hunter2-secret'), r.text);
  const m = parse(r.text) as {
    name: string;
    env: unknown;
    triggers: { secret?: string; payload?: string }[];
  };
  assert.equal(m.name, 'f');
  assert.deepEqual(m.env, { MODE: 'fast' });
  assert.deepEqual(
    m.triggers.map((t) => t.secret ?? t.payload),
    [SECRET_PLACEHOLDER, SECRET_PLACEHOLDER, SECRET_PLACEHOLDER, undefined],
  );
  assert.ok(r.text.includes(`secret: ${SECRET_PLACEHOLDER}`));
  assert.match(r.text, /removed by agni build/);
  // The image's file cannot be deployed as it is: the placeholder is too short to be a secret.
  assert.throws(() => parseManifest(r.text), /triggers\.0\.secret/);
});

test('a file without secrets comes back as it is', () => {
  const text = 'name: f\nruntime: host\n# secret: none\ntriggers:\n  - webhook: /a\n';
  assert.deepEqual(redactManifestText(text), { text, redacted: 0 });
});
