import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countByFunction, groupRefusal, placeGroup } from './slot-groups.js';

const need = (fn: string, concurrency = 4) => ({ function: fn, concurrency });

test('jobs are counted per function, with the function limit', () => {
  assert.deepEqual(
    [...countByFunction([need('a'), need('b', 2), need('a')])],
    [
      ['a', { n: 2, limit: 4 }],
      ['b', { n: 1, limit: 2 }],
    ],
  );
});

test('a group larger than the node, or than a function concurrency, is refused with the reason', () => {
  assert.equal(groupRefusal([need('a'), need('b')], 2), undefined);
  const slots = groupRefusal([need('a'), need('b'), need('c')], 2);
  assert.equal(slots?.code, 'bad_request');
  assert.match(slots!.message, /a pipe of 3 stages needs 3 slots at once, and this node has 2/);
  assert.match(slots!.hint!, /agni up --slots N/);
  const conc = groupRefusal([need('a', 1), need('b'), need('a', 1)], 4);
  assert.match(conc!.message, /a appears 2 times in the pipe, but its concurrency is 1/);
  assert.deepEqual(conc!.details, { function: 'a', stages: 2, concurrency: 1 });
});

test('a group starts only when all its slots are free at once', () => {
  const group = [need('a'), need('b'), need('c')];
  assert.equal(placeGroup(group, 3, new Map()), 'now');
  assert.equal(placeGroup(group, 2, new Map()), 'wait_slots');
  assert.equal(placeGroup([need('a')], 1, new Map()), 'now');
});

test('a function at its concurrency makes the group wait without holding back others', () => {
  assert.equal(placeGroup([need('a', 2), need('a', 2)], 8, new Map([['a', 1]])), 'wait_function');
  assert.equal(placeGroup([need('a', 2), need('b')], 8, new Map([['a', 1]])), 'now');
  // the concurrency check comes first: a group that could not start anyway does not block the slots
  assert.equal(placeGroup([need('a', 1), need('b')], 1, new Map([['a', 1]])), 'wait_function');
});
