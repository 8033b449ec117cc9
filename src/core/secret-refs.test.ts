import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from './errors.js';
import { parseManifest } from './manifest.js';

const base = 'name: f\nruntime: host\ncommand: [cat]\n';

test('agni.yaml secrets: names and the env form; none gives no field', () => {
  assert.equal(parseManifest(base).secrets, undefined);
  assert.deepEqual(parseManifest(`${base}secrets: [db_password, {name: api.key, env: API_KEY}]\n`).secrets, [
    { name: 'db_password' },
    { name: 'api.key', env: 'API_KEY' },
  ]);
});

test('agni.yaml secrets: each mistake names its field', () => {
  const cases: [string, RegExp][] = [
    ['secrets: db_password', /field `secrets`: expected a list/],
    ['secrets: [../etc]', /field `secrets\[0\]`: expected a secret name/],
    ['secrets: [a, a]', /field `secrets\[1\]`: expected each secret once/],
    [
      'secrets: [{name: a, env: AGNI_X}]',
      /field `secrets\[0\]\.env`: expected a name not starting with AGNI_/,
    ],
    ['secrets: [{name: a, env: 1X}]', /field `secrets\[0\]\.env`: expected an environment variable name/],
    ['secrets: [{name: a, file: x}]', /field `secrets\[0\]\.file`: expected no such field/],
    [
      'secrets: [{name: a, env: X}, {name: b, env: X}]',
      /field `secrets\[1\]\.env`: expected a variable no other secret sets/,
    ],
    [
      'env: {X: "1"}\nsecrets: [{name: a, env: X}]',
      /field `secrets\[0\]\.env`: expected a variable `env` does not set too/,
    ],
  ];
  for (const [yaml, re] of cases) {
    assert.throws(
      () => parseManifest(`${base}${yaml}\n`),
      (e: unknown) => e instanceof AgniError && e.code === 'manifest_invalid' && re.test(e.message),
      yaml,
    );
  }
});
