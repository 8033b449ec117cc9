/**
 * Image archives over HTTP: `POST /v1/oci/load` takes a tar (docker save, podman save, an OCI
 * archive or a tar of an OCI layout) as the request body; `GET /v1/oci/save` answers with one.
 * Both hold the OCI gate shared, so a prune never takes blobs a load has stored but not yet
 * recorded, or blobs a save is still sending.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgniError } from '../core/errors.js';
import { normaliseName } from '../image/oci/archive-plan.js';
import { loadArchive } from '../image/oci/archive-read.js';
import { ARCHIVE_FORMATS, type ArchiveFormat, saveArchive } from '../image/oci/archive-write.js';
import { nodePlatforms } from '../image/oci/node-platforms.js';
import { parsePlatform } from '../image/oci/platform.js';
import type { OciImages } from '../image/oci/pull-service.js';
import { parseQuery } from './query.js';
import { requireTar } from './tar-body.js';

/** Reads what is left of a refused upload, so the client gets the error instead of a reset. */
async function drain(s: Readable): Promise<void> {
  if (s.readableEnded || s.destroyed) return;
  await new Promise<void>((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
    s.once('error', () => resolve());
    s.resume();
  });
}

/** absent or empty: undefined; repeated (an array) is refused */
const onceText = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z.string({ message: 'give it once, as text' }).optional(),
);
export const LoadQuery = z.object({ name: onceText, platform: onceText });
export const SaveQuery = z.object({ name: onceText, format: onceText });

export function registerArchiveRoutes(app: FastifyInstance, oci: OciImages | undefined): void {
  const need = (): OciImages => {
    if (!oci) throw new AgniError('backend_unavailable', 'this server has no OCI image support');
    return oci;
  };

  app.post('/v1/oci/load', async (req, reply) => {
    const body = requireTar(req);
    try {
      const o = need();
      const { name, platform } = parseQuery(req.query, LoadQuery);
      // Bad options fail before a byte of a possibly large upload is parsed.
      if (name) normaliseName(name, '--name');
      const platforms = platform ? [parsePlatform(platform)] : nodePlatforms();
      const r = await o.gate.shared(() => loadArchive(o.content, o.repo, body, { name, platforms }));
      reply.status(201);
      return r;
    } catch (e) {
      await drain(body);
      throw e;
    }
  });

  app.get('/v1/oci/save', async (req, reply) => {
    const o = need();
    const q = parseQuery(req.query, SaveQuery);
    const name = q.name;
    if (!name) throw new AgniError('bad_request', 'query `name`: which stored image to save');
    const format = (q.format ?? 'oci-archive') as ArchiveFormat;
    if (!ARCHIVE_FORMATS.includes(format)) {
      throw new AgniError(
        'bad_request',
        `query \`format\`: "${format}" is not one of ${ARCHIVE_FORMATS.join(', ')}`,
      );
    }
    const rec = (await o.repo.get(name)) ?? (await o.repo.get(normaliseName(name, 'query `name`')));
    if (!rec) {
      throw new AgniError('image_not_found', `no stored image "${name}"`, {
        hint: 'list them with `agni image ls`; pull, build or load one first',
      });
    }
    // The gate is held until the last byte is sent (or the client goes away).
    let release: () => void = () => {};
    const sent = new Promise<void>((r) => (release = r));
    let started: () => void = () => {};
    const holding = new Promise<void>((r) => (started = r));
    const gate = o.gate.shared(() => {
      started();
      return sent;
    });
    await holding;
    try {
      const saved = await saveArchive(o.content, rec, format);
      reply.raw.once('close', release);
      const file = rec.name.replace(/[^A-Za-z0-9_.-]+/g, '_');
      void reply
        .header('content-type', 'application/x-tar')
        .header('content-length', String(saved.size))
        .header('content-disposition', `attachment; filename="${file}.tar"`)
        .header('agni-image-name', rec.name)
        .header('agni-manifest-digest', saved.manifestDigest)
        .header('agni-top-digest', saved.topDigest)
        .header('agni-blobs', String(saved.blobs));
      return reply.send(Readable.from(saved.stream(), { objectMode: false }));
    } catch (e) {
      release();
      await gate;
      throw e;
    }
  });
}
