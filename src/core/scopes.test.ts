import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from './errors.js';
import { formatScope, grants, parseScope } from './scopes.js';

test('parseScope: kinds, function lists (sorted, deduplicated), and errors naming the field', () => {
  assert.deepEqual(parseScope('admin'), { kind: 'admin' });
  assert.deepEqual(parseScope('invoke:b,a,b'), { kind: 'invoke', functions: ['a', 'b'] });
  assert.equal(formatScope(parseScope('deploy:fn1, fn2')), 'deploy:fn1,fn2');
  for (const bad of ['root', 'admin:fn', 'invoke:', 'invoke:Bad', 'invoke:a,,b', '']) {
    assert.throws(
      () => parseScope(bad, 'scopes[0]'),
      (e: unknown) => e instanceof AgniError && e.code === 'bad_request' && e.message.startsWith('scopes[0]'),
      bad,
    );
  }
});

test('grants: admin everything; a kind its routes; a limited scope only routes naming one of its functions', () => {
  const admin = [parseScope('admin')];
  const invoke = [parseScope('invoke')];
  const limited = [parseScope('invoke:fa,fb')];
  assert.equal(grants(admin, ['deploy'], undefined), true);
  assert.equal(grants([], 'public', undefined), true);
  assert.equal(grants([], ['invoke'], 'fa'), false);
  assert.equal(grants(invoke, ['invoke'], undefined), true);
  assert.equal(grants(invoke, ['deploy'], 'fa'), false);
  assert.equal(grants(invoke, ['invoke', 'deploy'], undefined), true);
  assert.equal(grants(limited, ['invoke'], 'fa'), true);
  assert.equal(grants(limited, ['invoke'], 'fc'), false);
  assert.equal(grants(limited, ['invoke'], undefined), false, 'a route naming no function could reach any');
  assert.equal(grants([...limited, parseScope('deploy')], ['deploy'], 'fc'), true);
});
