/**
 * The ceilings of `agni bench load` answer the invoke route as Agni does, and leave nothing behind.
 * The worker one runs real python3 workers over the warm protocol and a real SQLite file.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { CEILINGS, startCeiling } from './load-ceiling.js';

const ceilingDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('agni-ceiling-'));

for (const kind of CEILINGS) {
  test(`the ${kind} ceiling answers invokes, concurrently, and leaves no directory behind`, async () => {
    const before = ceilingDirs();
    const server = await startCeiling(kind, 2);
    try {
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          fetch(`${server.url}/v1/functions/noop/invoke`, { method: 'POST', body: 'x' }),
        ),
      );
      for (const a of answers) assert.equal(a.status, 200, await a.text());
    } finally {
      await server.stop();
    }
    assert.deepEqual(ceilingDirs(), before);
  });
}
