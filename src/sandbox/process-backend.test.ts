import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapFnPaths } from './process-backend.js';

test('/fn paths in argv point at the function directory', () => {
  assert.equal(mapFnPaths('/fn/main.py', '/h/v1'), '/h/v1/main.py');
  assert.equal(mapFnPaths('/fn', '/h/v1'), '/h/v1');
  assert.equal(mapFnPaths('cat /fn/a; ls "/fn/b" /fn', '/h/v1'), 'cat /h/v1/a; ls "/h/v1/b" /h/v1');
  assert.equal(mapFnPaths('--input=/fn/x', '/h/v1'), '--input=/h/v1/x');
});

test('other paths that merely contain fn are left alone', () => {
  assert.equal(mapFnPaths('/usr/fn/x', '/h'), '/usr/fn/x');
  assert.equal(mapFnPaths('/fnord', '/h'), '/fnord');
  assert.equal(mapFnPaths('echo fn', '/h'), 'echo fn');
});
