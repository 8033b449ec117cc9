/**
 * Image aliases: GET lists them (optionally of one canonical name), PUT sets one, DELETE removes
 * those of a canonical name (all, or the one for `arch`). Names travel in the body or the query
 * string because references contain slashes.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgniError } from '../core/errors.js';
import { normaliseImageName } from '../image/oci/image-alias.js';
import type { ImageAliasRepository } from '../store/image-alias-repo.js';
import { jsonRequest } from './json-body.js';
import { parseQuery } from './query.js';

export const SetBody = z
  .object({ canonical: z.string().min(1), arch: z.string().min(1), image: z.string().min(1) })
  .strict();

const oneValue = z.string({ message: 'expected one non-empty value' }).min(1, 'expected one non-empty value');
export const AliasListQuery = z.object({ canonical: oneValue.optional() });
export const AliasRemoveQuery = z.object({ canonical: oneValue.optional(), arch: oneValue.optional() });

export function registerImageAliasRoutes(app: FastifyInstance, aliases: ImageAliasRepository): void {
  app.get('/v1/image-aliases', async (req) => {
    const { canonical } = parseQuery(req.query, AliasListQuery);
    const all = await aliases.list();
    if (canonical === undefined) return { aliases: all };
    const name = normaliseImageName(canonical);
    return { aliases: all.filter((a) => a.canonical === name) };
  });

  app.put('/v1/image-aliases', async (req) => {
    const b = jsonRequest(req, SetBody);
    return { alias: await aliases.set(b.canonical, b.arch, b.image) };
  });

  app.delete('/v1/image-aliases', async (req) => {
    const { canonical, arch } = parseQuery(req.query, AliasRemoveQuery);
    if (canonical === undefined)
      throw new AgniError('bad_request', 'query `canonical`: required, the name whose aliases go', {
        hint: 'DELETE /v1/image-aliases?canonical=NAME[&arch=ARCH]',
      });
    const removed = await aliases.remove(canonical, arch);
    if (removed === 0) {
      const name = normaliseImageName(canonical);
      throw new AgniError('not_found', `no image alias of ${name}${arch ? ` for arch ${arch}` : ''}`, {
        hint: 'list aliases with `agni image alias ls`',
      });
    }
    return { canonical: normaliseImageName(canonical), arch: arch ?? null, removed };
  });
}
