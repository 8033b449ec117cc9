/**
 * How each sweep mode deploys the function: the same agni.yaml with its lifecycle and pool set for
 * the mode. A cold function's warm row runs its command per call inside a warm worker (the sh
 * helper's `agni_serve CMD…`), so the sandbox is reused and only the command's own start remains.
 * Pure: a parsed agni.yaml in, the mode's agni.yaml out (or why the mode cannot run it).
 */
import type { Manifest } from '../core/manifest.js';
import { DEFAULT_PATH } from '../sandbox/oci-spec.js';
import type { SweepMode } from './sweep-modes.js';

/** the PATH a runc sandbox gets when neither the image nor agni.yaml sets one */
export const SANDBOX_PATH = DEFAULT_PATH.slice('PATH='.length);

/** a scratch function's name: the function's (shortened to fit NAME_RE) and the mode */
export const variantName = (m: Manifest, mode: SweepMode) =>
  `${m.name.slice(0, 50).replace(/-+$/, '')}-${mode}`;

export function sweepVariant(
  raw: Record<string, unknown>,
  mode: SweepMode,
  m: Manifest,
  maxLevel: number,
): Record<string, unknown> | string {
  const out: Record<string, unknown> = { ...raw, name: variantName(m, mode) };
  delete out.triggers; // a sweep calls it; cron or subjects would add calls of their own
  if (mode === 'warm') {
    out.lifecycle = 'warm';
    // one worker per concurrent call, kept for the whole sweep
    out.pool = { min: 0, max: maxLevel, idle: '30m' };
    if (m.lifecycle === 'warm' || m.protocol === 'lambda') return out;
    const argv = [...(m.entrypoint ?? []), ...m.command];
    if (argv.length === 0) return 'warm: agni.yaml has no command to serve in a warm worker';
    delete out.entrypoint;
    out.command = [
      '/bin/sh',
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
      '. "${AGNI_RUNTIMES:-/agni/runtimes}/shell/agni-warm.sh"; agni_serve "$@"',
      'agni-sweep',
      ...argv,
    ];
    return out;
  }
  if (m.lifecycle === 'warm' || m.protocol === 'lambda')
    return `${mode}: the function is a warm worker (lifecycle: warm); only the warm mode runs it`;
  out.lifecycle = 'cold';
  out.pool = mode === 'prewarmed' ? { min: maxLevel, max: maxLevel, idle: '30m' } : { min: 0, max: 0 };
  // The process backend gives no function a root of its own (as in `agni bench cold`): the same
  // command runs on the host runtime, with a sandbox's PATH rather than the server's own (which
  // may find another interpreter first: a pyenv shim costs a second per start).
  if (mode === 'process') {
    out.runtime = 'host';
    if (m.env.PATH === undefined) out.env = { ...m.env, PATH: SANDBOX_PATH };
  }
  return out;
}
