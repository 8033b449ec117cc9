import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';

const made: string[] = [];
// A test or bench makes dozens of these: they go with the process instead of piling up in /tmp.
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Writes `files` into a fresh directory (a function dir as a user would have it), removed at exit. */
export function fnDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'agni-fn-'));
  made.push(dir);
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
