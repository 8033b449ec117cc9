/**
 * `POST /v1/oci/build`: the function directory arrives as a tar (as for deploy), is unpacked into
 * a staging directory under $AGNI_HOME/build that is removed on every path, and built into an OCI
 * image on agni.yaml's `runtime:` (build-service.ts). The answer is the build's JSON.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgniError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { DEFAULT_LIMITS, type UnpackLimits } from '../core/limits.js';
import { NAME_RE, parseManifest } from '../core/manifest.js';
import { redactManifestText } from '../core/manifest-secrets.js';
import { extractUpload, removeTree } from '../image/extract-upload.js';
import { sourceDate } from '../image/oci/build-layer.js';
import { buildFunctionImage, tagReference } from '../image/oci/build-service.js';
import { nodePlatforms, parsePlatformList } from '../image/oci/node-platforms.js';
import type { OciImages } from '../image/oci/pull-service.js';
import type { Store } from '../store/store.js';
import { jsonBody } from './json-body.js';
import { requireTar } from './tar-body.js';

const MAX_UPLOAD = 4 * 1024 ** 3;

const flag = z
  .enum(['1', '0', 'true', 'false'])
  .optional()
  .transform((v) => v === '1' || v === 'true');

export const BuildQuery = z.object({
  tag: z.string().min(1).optional(),
  platform: z.string().min(1).optional(),
  pull: flag,
  insecure: flag,
  sourceDateEpoch: z.string().optional(),
});

export function registerBuildRoutes(
  app: FastifyInstance,
  d: { oci?: OciImages; store: Store; unpackLimits?: UnpackLimits },
): void {
  app.post('/v1/oci/build', { bodyLimit: MAX_UPLOAD }, async (req, reply) => {
    const oci = d.oci;
    if (!oci) throw new AgniError('backend_unavailable', 'this server has no registry support');
    // Everything the query says is checked before the upload is read.
    const q = jsonBody(req.query, BuildQuery, 'query');
    const platforms = q.platform ? parsePlatformList(q.platform, '--platform') : [];
    if (q.tag) tagReference(q.tag);
    const date = sourceDate(q.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH);
    const upload = requireTar(req, 'a tar upload of the function directory');
    // The content store's parent is $AGNI_HOME; staging there keeps the build on the same disk.
    const work = join(dirname(oci.content.root), 'build', newId('bld'));
    const fnDir = join(work, 'fn');
    await mkdir(fnDir, { recursive: true });
    try {
      await extractUpload(upload, fnDir, {
        limits: d.unpackLimits ?? DEFAULT_LIMITS.unpack,
        what: 'the uploaded function',
        preserveOwner: false,
      });
      const text = await readFile(join(fnDir, 'agni.yaml'), 'utf8').catch(() => {
        throw new AgniError('manifest_invalid', 'agni.yaml: not found at the top of the uploaded directory', {
          hint: 'run `agni build DIR` on a directory that contains agni.yaml',
        });
      });
      const fn = parseManifest(text, 'agni.yaml');
      // A pre-OCI rootfs record wins over a registry reference at deploy; it has no OCI config to build on.
      if (NAME_RE.test(fn.runtime) && fn.runtime !== 'host' && (await d.store.getImage(fn.runtime))) {
        throw new AgniError(
          'manifest_invalid',
          `agni.yaml: field \`runtime\`: "${fn.runtime}" is a root filesystem imported before images were OCI images; agni build needs an OCI image as its base`,
          {
            hint: `import it again (\`agni image import ${fn.runtime} ROOTFS\`): it becomes an OCI image to build on`,
            details: { file: 'agni.yaml', field: 'runtime' },
          },
        );
      }
      // The image goes to registries: it carries agni.yaml without its secrets (the deploy
      // upload brings the real ones to the server). Removed first: the upload's agni.yaml
      // may be a symlink, which a plain write would follow out of the staging directory.
      const redacted = redactManifestText(text);
      if (redacted.redacted > 0) {
        await rm(join(fnDir, 'agni.yaml'));
        await writeFile(join(fnDir, 'agni.yaml'), redacted.text, { flag: 'wx', mode: 0o644 });
      }
      const result = await buildFunctionImage(oci, fnDir, fn, {
        tag: q.tag,
        platforms,
        nodePlatforms: nodePlatforms(),
        pull: q.pull,
        insecure: q.insecure,
        sourceDate: date,
        scratch: work,
      });
      reply.status(201);
      return result;
    } finally {
      // What cannot be removed now is swept at the next start (Deployer.sweep); never a 500 here.
      await removeTree(work).catch(() => undefined);
    }
  });
}
