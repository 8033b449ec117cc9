/**
 * The server's volumes seen by jobs. The files a by-reference job input names (`agni map --ref
 * 'VOLUME:/glob'`), expanded on the server under the volume's host directory and never outside it:
 * no `..`, no absolute escape, and a symlink that leads off the volume refuses the whole reference
 * (one inside it is followed, and the item names the file it leads to, which is what the sandbox
 * will see; each file once). And where a job's outputs are written (`--out-to 'VOLUME:/dir'`): only
 * on a volume the operator made read-write, following no link on the way (inside-dir.ts).
 */
import { realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { glob } from 'tinyglobby';
import { AgniError } from '../core/errors.js';
import {
  type InputRef,
  parseOutputSpec,
  parseRefSpec,
  refText,
  type VolumeDecl,
  type VolumeWriter,
} from '../core/volumes.js';
import { createFileInside, openFileInside, writeFileInside } from '../sandbox/inside-dir.js';
import type { BlobWriter } from '../store/blob/blob-store.js';
import type { AsyncOutput, OutputVolumes, RefExpander } from '../triggers/async-types.js';

export class VolumeFiles implements RefExpander, OutputVolumes {
  constructor(private readonly decls: readonly VolumeDecl[]) {}

  names(): string[] {
    return this.decls.map((d) => d.name).sort();
  }

  check(spec: string, field: string): string {
    const { volume, dir } = parseOutputSpec(spec, field);
    const decl = this.decl(volume, field);
    if (decl.mode !== 'rw')
      throw new AgniError('bad_request', `${field}: volume ${volume} is read-only on this server`, {
        hint: `the operator makes it writable with \`agni up --volume ${volume}=${decl.hostPath}:rw\``,
      });
    return `${volume}:/${dir}`;
  }

  async write(target: string, name: string, data: Buffer | Readable, writer?: string): Promise<void> {
    const { volume, dir } = parseOutputSpec(target, 'output_to');
    const decl = this.decl(volume, 'output_to');
    const rel = dir ? `${dir}/${name}` : name;
    // Rare (a copy of an older server's output): the directory is read to remove what a copy
    // killed with its server left.
    await writeFileInside(
      decl.hostPath,
      rel,
      data,
      `${volume}:/${rel}`,
      writer ? { writer, sweep: true } : undefined,
    );
  }

  async writer(file: InputRef, limit: number, by?: VolumeWriter): Promise<BlobWriter> {
    const decl = this.decl(file.volume, 'output_to');
    if (decl.mode !== 'rw')
      throw new AgniError('bad_request', `output_to: volume ${file.volume} is read-only on this server`);
    const f = await createFileInside(decl.hostPath, file.path, refText(file), by);
    const out = f.handle.createWriteStream();
    let failed: unknown;
    out.on('error', (e) => {
      failed ??= e;
    });
    const closed = new Promise<void>((resolve) => out.on('close', resolve));
    let kept = 0;
    let seen = 0;
    let done = false;
    return {
      write(chunk: Buffer): void {
        if (done) throw new Error(`${refText(file)}: write after commit or abort`);
        seen += chunk.length;
        const room = limit - kept;
        if (room <= 0) return;
        const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
        kept += piece.length;
        out.write(piece);
      },
      get kept() {
        return kept;
      },
      get seen() {
        return seen;
      },
      async commit() {
        done = true;
        out.end();
        await closed;
        if (failed !== undefined) {
          await f.abort();
          throw failed;
        }
        await f.commit();
        return { bytes: kept };
      },
      async abort() {
        done = true;
        out.destroy();
        await closed;
        await f.abort();
      },
    };
  }

  async read(file: InputRef): Promise<AsyncOutput | undefined> {
    const decl = this.decl(file.volume, 'output_to');
    const what = refText(file);
    let bytes: number;
    try {
      const fh = await openFileInside(decl.hostPath, file.path, what);
      try {
        bytes = (await fh.stat()).size;
      } finally {
        await fh.close();
      }
    } catch (e) {
      if ((e as { code?: string }).code === 'not_found') return undefined;
      throw e;
    }
    return {
      bytes,
      open: async (opts) => {
        const fh = await openFileInside(decl.hostPath, file.path, what);
        return fh.createReadStream({ signal: opts?.signal });
      },
      at: file,
    };
  }

  private decl(volume: string, field: string): VolumeDecl {
    const decl = this.decls.find((d) => d.name === volume);
    if (decl) return decl;
    const list = this.names().join(', ') || 'none';
    throw new AgniError(
      'bad_request',
      `${field}: no volume ${JSON.stringify(volume)} here; volumes that exist: ${list}`,
      {
        hint: 'the operator declares volumes with `agni up --volume NAME=/host/path`',
      },
    );
  }

  async expand(ref: string, limit: number, field = 'ref'): Promise<InputRef[]> {
    const { volume, pattern } = parseRefSpec(ref, field);
    // Brace and extglob forms can spell `..` without a `..` segment: none anywhere.
    if (pattern.includes('..'))
      throw new AgniError(
        'bad_request',
        `${field}: the glob may not contain \`..\`: it never leaves the volume`,
      );
    const decl = this.decl(volume, field);
    const top = await realpath(decl.hostPath);
    const found = await glob(pattern.slice(1), {
      cwd: top,
      onlyFiles: true,
      // Followed, so a link is seen and checked below (not silently skipped); loops end in fdir.
      followSymbolicLinks: true,
      expandDirectories: false,
      dot: false,
    });
    const out: InputRef[] = [];
    const seen = new Set<string>();
    for (const rel of found.sort()) {
      const lexical = join(top, rel);
      if (!lexical.startsWith(top + sep)) throw escapes(field, ref, rel);
      const real = await realpath(lexical).catch(() => undefined);
      if (!real) continue; // gone since the listing, or a dangling link
      if (!real.startsWith(top + sep)) throw escapes(field, ref, rel);
      if (!(await stat(real)).isFile() || seen.has(real)) continue;
      seen.add(real);
      out.push({ volume, path: relative(top, real).split(sep).join('/') });
      if (out.length > limit)
        throw new AgniError('bad_request', `${field}: matches more than ${limit} files`, {
          hint: 'split the inputs over several jobs (a narrower glob each)',
        });
    }
    if (out.length === 0)
      throw new AgniError('bad_request', `${field}: no file on volume ${volume} matches ${pattern}`);
    return out;
  }
}

function escapes(field: string, ref: string, rel: string): AgniError {
  return new AgniError(
    'bad_request',
    `${field}: ${JSON.stringify(ref)} matches ${rel}, which leads outside the volume (a symbolic link?)`,
    { hint: 'a reference names only files on the volume itself' },
  );
}
