import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { failingStage, pipeStages } from './pipe.js';

test('stage names come from one or many `f` values, in order', () => {
  assert.deepEqual(pipeStages('upper'), ['upper']);
  assert.deepEqual(pipeStages(['upper', 'wordcount', 'upper']), ['upper', 'wordcount', 'upper']);
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
    (e) => isAgniError(e) && /query `f` \(stage 2\): expected a function name.*"Bad Name"/.test(e.message),
  );
  assert.throws(() => pipeStages(['upper', '']), /stage 2/);
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
