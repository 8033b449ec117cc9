/**
 * What `agni deploy` does, imported only when it runs (lazy-action.ts); its arguments, options and
 * help are in functions.ts.
 */
import { AgniError } from '../../core/errors.js';
import { ApiClient } from '../client.js';
import { functionUpload, skippedSummary } from '../dir-upload.js';
import { printJson } from '../output.js';
import { type BuildFlags, buildAndMaybePush, readFunctionDir, skippedList } from './build-action.js';

export async function deploy(dir: string, o: BuildFlags & { build?: boolean }): Promise<void> {
  if (!o.build && (o.tag || o.push || o.platform)) {
    throw new AgniError('bad_request', '-t, --push and --platform go with --build', {
      hint: 'agni deploy DIR --build -t REF --push',
    });
  }
  const built = o.build ? await buildAndMaybePush(dir, o) : undefined;
  // Validated here first, so an error names the user's own path rather than the server's copy.
  const { root, manifest: m } = await readFunctionDir(dir);
  const upload = await functionUpload(root);
  // With --build the build step has said it already: the same rules, the same files.
  if (!o.json && !built) process.stdout.write(skippedSummary(upload));
  const r = await new ApiClient().upload<{ name: string; version: number; runtime?: string }>(
    built ? `/v1/functions?runtime=${encodeURIComponent(built.runtime)}` : '/v1/functions',
    upload.body,
    'application/gzip',
  );
  const skipped = skippedList(upload);
  if (o.json)
    printJson(
      built
        ? { ...r, skipped, build: built.build, ...(built.push ? { push: built.push } : {}) }
        : { ...r, skipped },
    );
  else
    process.stdout.write(
      `deployed ${r.name} version ${r.version} (runtime ${built?.runtime ?? m.runtime})\n`,
    );
}
