/** Tar uploads (deploy, image import, build, load): the content types the server takes as a raw stream. */
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { AgniError } from '../core/errors.js';

export const TAR_TYPES = ['application/x-tar', 'application/gzip'];

/** The request body as a stream, or a 400 naming the content types a tar upload may have. */
export function requireTar(req: FastifyRequest, what = 'a tar upload'): Readable {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  if (!TAR_TYPES.includes(type)) {
    throw new AgniError(
      'bad_request',
      `expected ${what} (content-type ${TAR_TYPES.join(' or ')}), got ${type || 'none'}`,
    );
  }
  return req.body as Readable;
}
