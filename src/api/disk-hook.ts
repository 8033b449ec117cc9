/** The routes that write under $AGNI_HOME, refused (507) before their body is read when the disk is nearly full. */
import type { FastifyInstance } from 'fastify';
import type { DiskGuard } from '../app/disk-guard.js';

/** method + route pattern → what it writes, for the message */
const WRITING_ROUTES: Record<string, string> = {
  'POST /v1/functions': 'a deploy',
  'POST /v1/images/:name': 'an image import',
  'POST /v1/oci/pull': 'an image pull',
  'POST /v1/oci/load': 'an image load',
  'POST /v1/oci/build': 'an image build',
  'POST /v1/functions/:name/async': 'an async invocation',
  'POST /v1/jobs': 'a new job',
  'POST /v1/jobs/:id/inputs': 'job inputs',
};

export function registerDiskGuard(app: FastifyInstance, disk: DiskGuard): void {
  app.addHook('onRequest', async (req) => {
    const what = WRITING_ROUTES[`${req.method} ${req.routeOptions.url}`];
    if (what) await disk.check(what);
  });
}
