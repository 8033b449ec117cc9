/**
 * What a blob key may be: a relative name of `/`-separated segments of letters, digits, `.`, `_`
 * and `-`. No absolute names, no `.` or `..` segments, no empty ones, and no segment ending in
 * `.part` or `.tmp` (the names a store writes before it renames a blob into place), so a key can
 * never reach outside the store nor name a half-written blob.
 */
import { AgniError } from '../../core/errors.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
export const MAX_BLOB_KEY = 512;

/** why `key` is not a blob key, or undefined when it is one */
export function blobKeyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key === '') return 'is empty';
  if (key.length > MAX_BLOB_KEY) return `is longer than ${MAX_BLOB_KEY} characters`;
  if (key.startsWith('/')) return 'must be relative';
  for (const seg of key.split('/')) {
    if (seg === '') return 'has an empty segment';
    if (seg === '.' || seg === '..') return 'has a `.` or `..` segment';
    if (!SEGMENT.test(seg)) return 'may hold only letters, digits, `.`, `_`, `-` and `/`';
    if (seg.endsWith('.part') || seg.endsWith('.tmp')) return 'may not end a segment in `.part` or `.tmp`';
  }
  return undefined;
}

export function assertBlobKey(key: string): void {
  const problem = blobKeyProblem(key);
  // Keys are made by the server, never by a request: a bad one is a bug or a tampered row.
  if (problem) throw new AgniError('internal', `blob key ${JSON.stringify(key)} ${problem}`);
}
