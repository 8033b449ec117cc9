/**
 * Pull progress bars appear only for a person at a terminal: under a pseudo-terminal (util-linux
 * `script`) the CLI draws them; with stdout piped, or with --json, it prints none.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { CLI } from './helpers/agni-up.js';
import { busyboxLayer, startRegistry, storeImage, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const BAR = /layer [0-9a-f]{12} \[[█░]+\] \d+% .*\/s/;

describe('pull progress bars', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'agni-progress-'));
  let reg: TestRegistry;
  let s: TestServer;
  const refs: string[] = [];

  /** `script` gives the CLI a terminal for stdin, stdout and stderr; its output mixes both streams. */
  const inTerminal = async (args: string[]) =>
    run('script', ['-qec', `node ${CLI} ${args.join(' ')}`, '/dev/null'], {
      env: { ...process.env, AGNI_URL: s.url, TERM: 'xterm' },
    });

  before(async () => {
    reg = await startRegistry();
    const src = new ContentStore(join(scratch, 'src'));
    for (let i = 0; i < 3; i++) {
      // Distinct layers, so each pull downloads (a cached blob has nothing to show).
      const img = await storeImage(src, await busyboxLayer(256 * 1024 + i));
      const ref = `${reg.host}/bars/img${i}:v1`;
      await pushImage(new RegistryClient({ host: reg.host }), src, img.manifestDigest, parseReference(ref));
      refs.push(ref);
    }
    s = await startTestServer();
  });
  after(async () => {
    await s?.close();
    await reg?.close();
    rmSync(scratch, { recursive: true, force: true });
    if (s) rmSync(s.home, { recursive: true, force: true });
  });

  test('a terminal gets bars with bytes, percentage and speed', async () => {
    const r = await inTerminal(['image', 'pull', refs[0]!]);
    assert.match(r.stdout, BAR);
    assert.match(r.stdout, /linux\/amd64, 1 layer\(s\)/);
  });

  test('piped stdout or --json: no bars', async () => {
    const piped = await run('bash', ['-c', `node ${CLI} image pull ${refs[1]} | cat`], {
      env: { ...process.env, AGNI_URL: s.url },
    });
    assert.doesNotMatch(piped.stdout + piped.stderr, /%/);
    assert.match(piped.stdout, new RegExp(refs[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const json = await inTerminal(['image', 'pull', refs[2]!, '--json']);
    assert.doesNotMatch(json.stdout, BAR);
    assert.match(json.stdout, /"manifestDigest"/);
  });
});
