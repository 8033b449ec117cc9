import assert from 'node:assert/strict';
import { fnDir, tarOf } from './tarball.js';

/** Deploys a function made of `agni.yaml` (and any other files) to the server at `url`. */
export async function deployFiles(url: string, files: Record<string, string>): Promise<void> {
  await deployDir(url, fnDir(files));
}

/** Deploys the function directory `dir` (with its agni.yaml) to the server at `url`. */
export async function deployDir(url: string, dir: string): Promise<void> {
  const r = await fetch(`${url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(dir)),
  });
  assert.equal(r.status, 201, await r.text());
}
