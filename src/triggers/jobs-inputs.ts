/** Rules for job inputs, shared by the API (which validates) and the CLI (which names files). Pure. */

export const MAX_INPUT_NAME = 1024;
export const MAX_JOB_INPUTS = 1_000_000;
export const MAX_JOB_CONCURRENCY = 1000;

/**
 * An input name becomes a path under the CLI's --out directory (`DIR/<name>.out`), so it must stay
 * inside it: relative, no `..` segment, no control characters. Returns what is wrong, or undefined.
 */
export function inputNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_INPUT_NAME) return `must be at most ${MAX_INPUT_NAME} characters`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\x00-\x1f\x7f]/.test(name)) return 'must not contain control characters';
  if (name.startsWith('/') || name.startsWith('\\')) return 'must be a relative path';
  if (name.split(/[/\\]/).some((seg) => seg === '..' || seg === '.' || seg === ''))
    return 'must not contain empty, `.` or `..` path segments';
  return undefined;
}

export interface Span {
  offset: number;
  length: number;
}

/**
 * Where each line of `buf` is: every line that has content, with its newline (a last line without
 * one gets none). Blank lines are skipped, as xargs does, so a trailing empty line is no input.
 */
export function lineSpans(buf: Buffer): Span[] {
  const out: Span[] = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl === -1 ? buf.length : nl + 1;
    let content = end - start;
    if (nl !== -1) content--;
    if (content > 0 && buf[start + content - 1] === 0x0d) content--;
    if (content > 0) out.push({ offset: start, length: end - start });
    start = end;
  }
  return out;
}
