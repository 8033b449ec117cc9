/**
 * Node labels as `agni agent --labels site=lab-2,gpu=yes` gives them. The same names and values
 * agni.yaml's `placement.labels` takes (src/core/manifest.ts), so what a function asks for can be
 * what a node says it is.
 */
import { AgniError } from './errors.js';
import { LABEL_KEY_RE, LABEL_VALUE_RE } from './manifest.js';

export function parseLabels(text: string, what = '--labels'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    if (value === undefined || !LABEL_KEY_RE.test(key) || !LABEL_VALUE_RE.test(value)) {
      throw new AgniError('bad_request', `${what}: "${item}" is not key=value`, {
        hint: 'e.g. --labels site=lab-2,gpu=yes (keys: letters, digits, . _ - /; values: letters, digits, . _ -)',
        details: { field: what },
      });
    }
    if (key in out)
      throw new AgniError('bad_request', `${what}: label ${key} is given twice`, {
        details: { field: what },
      });
    out[key] = value;
  }
  return out;
}
