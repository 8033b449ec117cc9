/** Tar uploads (deploy, image import, build, load): the content types the server takes as a raw stream. */
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { AgniError } from '../core/errors.js';
import { mediaType } from './json-body.js';

export const TAR_TYPES = ['application/x-tar', 'application/gzip'];

/** The request body as a stream, or a 415 naming the content types a tar upload may have. */
export function requireTar(req: FastifyRequest, what = 'a tar upload'): Readable {
  assertTarType(req, what);
  return req.body as Readable;
}

/** A 415 unless the request's content type is one a tar upload may have. */
export function assertTarType(req: FastifyRequest, what = 'a tar upload'): void {
  const type = mediaType(req);
  if (!TAR_TYPES.includes(type)) {
    throw new AgniError(
      'unsupported_media_type',
      `header \`content-type\`: expected ${what} (content-type ${TAR_TYPES.join(' or ')}), got ${type || 'none'}`,
      {
        hint: `send the tar with Content-Type: ${TAR_TYPES.join(' or ')}`,
        details: { field: 'content-type' },
      },
    );
  }
}
