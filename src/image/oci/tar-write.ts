/**
 * A deterministic tar stream: entries sorted by name, mtime 0, uid/gid 0, no user names, fixed
 * modes, so exporting the same image twice gives the same bytes. File bodies stream from disk;
 * the total length is known before the first byte (sent as Content-Length).
 */
import { createReadStream } from 'node:fs';
import { Header } from 'tar';

export type TarEntry =
  | { path: string; type: 'Directory' }
  | { path: string; type: 'File'; size: number; bytes: Buffer }
  | { path: string; type: 'File'; size: number; file: string };

const BLOCK = 512;

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export function sortEntries(entries: TarEntry[]): TarEntry[] {
  return [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function tarSize(entries: TarEntry[]): number {
  let n = 2 * BLOCK;
  for (const e of entries) n += BLOCK + (e.type === 'File' ? e.size + padding(e.size) : 0);
  return n;
}

function header(e: TarEntry): Buffer {
  const block = Buffer.alloc(BLOCK);
  const h = new Header({
    path: e.path,
    type: e.type,
    mode: e.type === 'Directory' ? 0o755 : 0o644,
    size: e.type === 'File' ? e.size : 0,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: new Date(0),
  });
  if (h.encode(block, 0)) throw new Error(`tar entry name too long for a plain header: ${e.path}`);
  return block;
}

/** The entries (in the order given: sort them first) as tar blocks. */
export async function* tarStream(entries: TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield header(e);
    if (e.type !== 'File') continue;
    if ('bytes' in e) yield e.bytes;
    else {
      let got = 0;
      for await (const c of createReadStream(e.file)) {
        got += (c as Buffer).length;
        yield c as Buffer;
      }
      // Blobs never change in place; a different length means the store was damaged meanwhile.
      if (got !== e.size) throw new Error(`${e.file}: expected ${e.size} bytes, read ${got}`);
    }
    const pad = padding(e.size);
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}
