/**
 * The agent builds a version's sandbox spec (its image lookup, volumes, secrets) only when a
 * sandbox is to be made: a warm call that an idle worker takes needs none of it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseManifest } from '../core/manifest.js';
import { dispatchRequest } from '../dispatch/dispatch-request.js';
import { nodePlatforms } from '../image/oci/node-platforms.js';
import type { SandboxResult } from '../sandbox/backend.js';
import { ProcessBackend } from '../sandbox/process-backend.js';
import type { VersionRecord } from '../store/store.js';
import { Agent } from './agent.js';
import type { BaseSpec, SandboxRunner } from './runner.js';

const codeDir = mkdtempSync(join(tmpdir(), 'agni-base-spec-'));
after(() => rmSync(codeDir, { recursive: true, force: true }));

const version: VersionRecord = {
  function: 'w',
  version: 1,
  manifest: parseManifest('name: w\nruntime: img\ncommand: [/bin/true]\nlifecycle: warm\n'),
  codeDir,
  imageId: 'img-1',
  createdAt: Date.now(),
};

/** a worker pool of one: the first call starts the worker (and asks for the spec), later ones reuse it */
class OneWorker implements SandboxRunner {
  started = false;
  async run(_v: VersionRecord, base: BaseSpec): Promise<SandboxResult> {
    if (!this.started) {
      await base();
      this.started = true;
    }
    return { outcome: 'ok', exitCode: 0, signal: null };
  }
  idle(): boolean {
    return this.started;
  }
  async drain(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

test('a warm call an idle worker takes builds no sandbox spec; a worker start builds it once', async () => {
  let lookups = 0;
  const resolveRootfs = async () => {
    lookups++;
    return codeDir;
  };
  const agent = new Agent(
    new ProcessBackend(),
    resolveRootfs,
    { node: 'n', platforms: nodePlatforms(), slots: 1 },
    {
      warm: new OneWorker(),
    },
  );
  const call = (i: number) => {
    const payload = Buffer.alloc(0);
    return agent.run(dispatchRequest({ invocationId: `c${i}`, version, payload }), {
      payload,
      io: { onStdout: () => {}, onStderr: () => {} },
      hooks: {},
    });
  };
  for (let i = 0; i < 3; i++) assert.equal((await call(i)).outcome, 'ok');
  assert.equal(lookups, 1, 'the image was looked up for the worker start only');
});
