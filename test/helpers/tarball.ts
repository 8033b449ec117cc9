import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';

/** Writes `files` into a fresh directory (a function dir as a user would have it). */
export function fnDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'agni-fn-'));
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
