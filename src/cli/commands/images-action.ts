/**
 * What `agni image import` does, imported only when it runs (lazy-action.ts); its arguments, options
 * and help are in images.ts.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AgniError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type { ImageRecord } from '../../store/store.js';
import { refuseImageArchive } from '../archive-detect.js';
import { ApiClient } from '../client.js';
import { rootfsUpload } from '../dir-upload.js';
import { printJson } from '../output.js';

export async function importRootfs(
  name: string,
  path: string,
  o: { json?: boolean; platform?: string },
): Promise<void> {
  const full = resolve(path);
  const st = await stat(full).catch(() => {
    throw new AgniError('bad_request', `${path}: no such file or directory`, {
      hint: 'pass a rootfs tarball or directory',
    });
  });
  await refuseImageArchive(path, full, st.isDirectory());
  // A directory is sent whole, symlinks as symlinks; its devices stay out (sandboxes get their own /dev).
  const body = st.isDirectory() ? (await rootfsUpload(full)).body : createReadStream(full);
  const img = await new ApiClient().upload<ImageRecord>(
    `/v1/images/${encodeURIComponent(name)}${o.platform ? `?platform=${encodeURIComponent(o.platform)}` : ''}`,
    body,
    'application/x-tar',
    {
      'agni-source': full,
    },
  );
  if (o.json) printJson(img);
  else
    process.stdout.write(
      `imported ${img.name} (${img.id}): ${img.files} files, ${formatBytes(img.sizeBytes)}\n`,
    );
}
