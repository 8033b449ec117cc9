import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingActions, parseChallenge, parseScope } from './auth.js';

const jwt = (claims: unknown) =>
  `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('scopes split at the first and last colon', () => {
  assert.deepEqual(parseScope('repository:tools/fn:pull,push'), {
    type: 'repository',
    name: 'tools/fn',
    actions: ['pull', 'push'],
  });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.equal(parseScope('repository'), undefined);
  assert.equal(parseScope(':x:pull'), undefined);
});

test('a Bearer challenge with an error keeps it', () => {
  const ch = parseChallenge(
    'Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope"',
  );
  assert.equal(ch?.params.error, 'insufficient_scope');
  assert.equal(ch?.params.scope, 'repository:a/b:pull,push');
});

test('missing actions are read from the token`s access claim', () => {
  const pullOnly = jwt({ access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }] });
  assert.deepEqual(missingActions('repository:a/b:pull,push', pullOnly), ['push']);
  assert.deepEqual(missingActions('repository:a/c:pull', pullOnly), ['pull'], 'another repository');
  const all = jwt({ access: [{ type: 'repository', name: 'a/b', actions: ['*'] }] });
  assert.deepEqual(missingActions('repository:a/b:pull,push', all), []);
  assert.deepEqual(missingActions('repository:a/b:pull,push', 'opaque-token'), ['pull', 'push']);
  assert.deepEqual(missingActions('repository:a/b:pull', undefined), ['pull']);
});
