import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { failingStage, pipeStages } from './pipe.js';

test('stage names come from one or many `f` values, in order', () => {
  const live = { kind: 'live' };
  assert.deepEqual(pipeStages('upper'), [{ name: 'upper', qualifier: live }]);
  assert.deepEqual(pipeStages(['upper', 'wordcount@2', 'upper@prod']), [
    { name: 'upper', qualifier: live },
    { name: 'wordcount', qualifier: { kind: 'version', version: 2 } },
    { name: 'upper', qualifier: { kind: 'alias', alias: 'prod' } },
  ]);
});

test('no stage, or a stage that is not a function name, is refused naming the stage', () => {
  for (const raw of [undefined, []]) {
    assert.throws(
      () => pipeStages(raw),
      (e) => isAgniError(e) && e.code === 'bad_request' && /query `f`: name at least one/.test(e.message),
    );
  }
  assert.throws(
    () => pipeStages(['upper', 'Bad Name']),
    (e) => isAgniError(e) && /query `f` \(stage 2\): "Bad Name" is not a function name/.test(e.message),
  );
  assert.throws(() => pipeStages(['upper', '']), /stage 2/);
  assert.throws(() => pipeStages(['upper@0']), /stage 1\): expected a version number/);
});

const ok = { status: 'succeeded', cut: false };
const failed = { status: 'failed', cut: false };
const cut = { status: 'failed', cut: true };

test('a pipe whose stages all succeeded has no failing stage', () => {
  assert.equal(failingStage([ok, ok, ok]), undefined);
});

test('the failing stage is the leftmost that failed on its own; the ones it cut are not blamed', () => {
  // B failed: A (its writer) was cut, C saw EOF and finished
  assert.equal(failingStage([cut, failed, ok]), 1);
  // A failed, and B then failed on its truncated input: A is the cause
  assert.equal(failingStage([failed, failed, ok]), 0);
  // C stopped reading early but exited 0 (like `head`): the writers it cut do not fail the pipe
  assert.equal(failingStage([cut, cut, ok]), undefined);
  // timeouts, oom and sandbox errors fail a stage like a non-zero exit
  assert.equal(failingStage([ok, { status: 'timeout', cut: false }, ok]), 1);
  assert.equal(failingStage([ok, ok, { status: 'error', cut: false }]), 2);
});
