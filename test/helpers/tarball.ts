import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';
import { tempDir } from './tmp.js';

/** Writes `files` into a fresh directory (a function dir as a user would have it), removed at exit. */
export function fnDir(files: Record<string, string>): string {
  // A test or bench makes dozens of these: they go with the process instead of piling up in /tmp.
  const dir = tempDir('agni-fn-');
  for (const [name, text] of Object.entries(files))
    writeFileSync(join(dir, name), text, { mode: name.endsWith('.sh') ? 0o755 : 0o644 });
  return dir;
}

export async function tarOf(dir: string, entries = ['.']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from(create({ cwd: dir, gzip: true, portable: true }, entries)))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
