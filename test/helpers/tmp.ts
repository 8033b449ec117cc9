/**
 * Fresh temporary directories for tests, removed when the test file's process exits: after its
 * tests and their after hooks, so after the servers, agents and sandboxes they ran are closed (a
 * restart test can reuse one until then). One with anything still mounted under it stays: a
 * recursive rm would go through the mount.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountsUnder } from '../../src/image/oci/overlay.js';

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) {
    if (mountsUnder(d).length > 0) continue;
    try {
      rmSync(d, { recursive: true, force: true });
    } catch (e) {
      process.stderr.write(`cannot remove test directory ${d}: ${(e as Error).message}\n`);
    }
  }
});

/** a fresh directory `<tmpdir>/<prefix>XXXXXX`, removed when the test process exits */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
