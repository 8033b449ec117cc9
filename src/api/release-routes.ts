/**
 * Versions without uploads: rollback, function aliases (with an optional canary split) and the
 * removal of one version. JSON bodies, application/json only. The engine is Releases.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Deployer } from '../app/deployer.js';
import type { Releases } from '../app/releases.js';
import { parseVersionNumber } from '../core/qualifier.js';
import { jsonRequest } from './json-body.js';

export interface ReleaseRouteDeps {
  releases?: Releases;
  deployer: Deployer;
}

const version = z.number().int('a whole number').min(1, 'a version number from 1');
export const rollbackSchema = z.object({ to: version.optional() }).strict();
export const aliasSchema = z
  .object({
    version,
    split: z
      .object({
        version,
        weight: z
          .number()
          .gt(0, 'a share strictly between 0 and 1')
          .lt(1, 'a share strictly between 0 and 1'),
      })
      .strict()
      .optional(),
  })
  .strict();

type Named = { Params: { name: string } };
type Aliased = { Params: { name: string; alias: string } };

export function registerReleaseRoutes(app: FastifyInstance, d: ReleaseRouteDeps): void {
  app.delete<{ Params: { name: string; version: string } }>(
    '/v1/functions/:name/versions/:version',
    async (req) => {
      const v = await d.deployer.removeVersion(
        req.params.name,
        parseVersionNumber(req.params.version, 'path `version`'),
      );
      return { name: v.function, version: v.version };
    },
  );
  const releases = d.releases;
  if (!releases) return;

  app.post<Named>('/v1/functions/:name/rollback', async (req) => {
    const { to } = jsonRequest(req, rollbackSchema);
    return releases.rollback(req.params.name, to);
  });

  app.get<Named>('/v1/functions/:name/aliases', async (req) => ({
    aliases: await releases.listAliases(req.params.name),
  }));

  app.put<Aliased>('/v1/functions/:name/aliases/:alias', async (req) => {
    const body = jsonRequest(req, aliasSchema);
    return releases.setAlias(req.params.name, req.params.alias, body);
  });

  app.delete<Aliased>('/v1/functions/:name/aliases/:alias', async (req) => {
    await releases.removeAlias(req.params.name, req.params.alias);
    return { name: req.params.name, alias: req.params.alias };
  });
}
