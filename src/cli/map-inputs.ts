/**
 * What `agni map` runs over: files, the regular files of a directory (sorted by name), a glob
 * the CLI expands itself (so it works quoted), or lines on stdin. Every input gets a name, used for
 * `--out DIR/<name>.out` and in failure listings: a file's own name, or for a directory or a glob
 * its path below that directory or below the glob's fixed leading part (so subdirectories a
 * recursive glob reaches stay apart).
 */
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { AgniError } from '../core/errors.js';
import { inputNameProblem } from '../triggers/jobs-inputs.js';

let tinyglobby: typeof import('tinyglobby') | undefined;

/** the glob matcher, loaded when inputs are first expanded (`agni map --ref` and stdin never do) */
function globs(): typeof import('tinyglobby') {
  tinyglobby ??= createRequire(import.meta.url)('tinyglobby') as typeof import('tinyglobby');
  return tinyglobby;
}

export interface FileInput {
  name: string;
  path: string;
}

export type Inputs = { kind: 'files'; files: FileInput[] } | { kind: 'stdin' };

function bad(message: string, hint?: string): AgniError {
  return new AgniError('bad_request', message, { hint });
}

/** `file` relative to the directory or glob base it was found under */
export function inputName(file: string, base: string): string {
  const name = relative(base, file).split(sep).join('/');
  return inputNameProblem(name) === undefined ? name : basename(file);
}

/** the leading segments of a glob that have no pattern characters in them */
export function globBase(pattern: string, cwd: string): string {
  const segs = pattern.split('/');
  const fixed: string[] = [];
  for (const s of segs.slice(0, -1)) {
    if (globs().isDynamicPattern(s)) break;
    fixed.push(s);
  }
  const base = fixed.join('/') || (pattern.startsWith('/') ? '/' : '.');
  return resolve(cwd, base);
}

function regularFilesOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter(
      (e) =>
        e.isFile() ||
        (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isFile()),
    )
    .map((e) => e.name)
    .sort();
}

/**
 * Expands the INPUTS arguments in order. No argument, or `-`, means stdin lines, which needs
 * stdin to be a pipe or a file. Nothing is sent anywhere until all of them check out.
 */
export function expandInputs(args: string[], cwd: string, stdinIsTTY: boolean): Inputs {
  if (args.length === 0 || (args.length === 1 && args[0] === '-')) {
    if (stdinIsTTY) {
      throw bad(
        'no inputs: give files, a directory or a glob, or pipe lines on stdin',
        'agni map wordcount data/*.txt',
      );
    }
    return { kind: 'stdin' };
  }
  if (args.includes('-')) throw bad('input `-` (stdin lines) cannot be mixed with files');
  const files: FileInput[] = [];
  for (const arg of args) {
    const abs = resolve(cwd, arg);
    const st = statSync(abs, { throwIfNoEntry: false });
    // A named pipe too (`agni map fn <(zcat a.gz)`): streamed like a file as it is written.
    if (st?.isFile() || st?.isFIFO()) {
      files.push({ name: inputName(abs, dirname(abs)), path: abs });
    } else if (st?.isDirectory()) {
      const names = regularFilesOf(abs);
      if (names.length === 0) throw bad(`input ${arg}: the directory has no regular files`);
      for (const n of names) files.push({ name: inputName(join(abs, n), abs), path: join(abs, n) });
    } else if (st) {
      throw bad(`input ${arg}: not a regular file or a directory`);
    } else if (globs().isDynamicPattern(arg)) {
      const base = globBase(arg, cwd);
      const matched = globs().globSync(arg, { cwd, absolute: true, onlyFiles: true }).sort();
      if (matched.length === 0) throw bad(`input ${arg}: the glob matches no file`);
      for (const m of matched) files.push({ name: inputName(m, base), path: m });
    } else {
      throw bad(`input ${arg}: no such file or directory`);
    }
  }
  return { kind: 'files', files };
}

/** With --out every input needs a name of its own, or one output would overwrite another. */
export function checkDistinctNames(files: FileInput[]): void {
  const seen = new Map<string, string>();
  for (const f of files) {
    const other = seen.get(f.name);
    if (other !== undefined) {
      throw bad(
        `inputs ${other} and ${f.path} would both write ${f.name}.out`,
        'quote a glob (agni expands it and keeps subdirectories apart), or map them in two runs',
      );
    }
    seen.set(f.name, f.path);
  }
}
