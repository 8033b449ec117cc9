/**
 * The web dashboard at /ui: the files `npm run build` compiled into dist/ui, served as they are
 * (no CDN: the page works offline). The files are public; every datum the page shows comes from
 * the API with the token. Hashed assets are cached for good; index.html is revalidated, so a new
 * build is picked up on the next load. A path that is no file is the SPA's own route: index.html.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AgniError } from '../core/errors.js';

export const UI_PREFIX = '/ui';

/** dist/ui beside dist/src (this file runs as dist/src/api/ui-static.js) */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Is `url` (path and query) a dashboard path, which needs no token? */
export function isUiPath(url: string): boolean {
  const path = url.split('?', 1)[0]!;
  return path === UI_PREFIX || path.startsWith(`${UI_PREFIX}/`);
}

/** The file under `root` a request path names, or undefined when it would leave `root`. */
export function uiFile(root: string, path: string): string | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(path.slice(UI_PREFIX.length).split('?', 1)[0]!);
  } catch {
    return undefined;
  }
  if (rel.includes('\0')) return undefined;
  const base = resolve(root);
  const file = resolve(base, `.${rel.startsWith('/') ? rel : `/${rel}`}`);
  return file === base || file.startsWith(base + sep) ? file : undefined;
}

async function isFile(p: string): Promise<number | undefined> {
  const s = await stat(p).catch(() => undefined);
  return s?.isFile() ? s.size : undefined;
}

/** What the page needs to know before it has a token: GET /ui/server.json. Nothing in it is data. */
export interface UiServerInfo {
  tokenRequired: boolean;
  /** the parts this server has: the page hides the others (the nodes of a cluster, jobs, triggers…) */
  features: Record<string, boolean>;
}

export function registerUiRoutes(
  app: FastifyInstance,
  info: () => UiServerInfo | Promise<UiServerInfo>,
  dir = DEFAULT_UI_DIR,
): void {
  const index = join(dir, 'index.html');
  app.get(`${UI_PREFIX}/server.json`, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return info();
  });

  const send = (reply: FastifyReply, file: string, size: number, immutable: boolean) =>
    reply
      .header('content-type', TYPES[extname(file)] ?? 'application/octet-stream')
      .header('content-length', String(size))
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      // The page talks to its own origin only; nothing may frame it (clickjacking a Retry button).
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      )
      .header('x-frame-options', 'DENY')
      .send(createReadStream(file));

  const handler = async (req: { url: string }, reply: FastifyReply) => {
    const indexSize = await isFile(index);
    if (indexSize === undefined)
      throw new AgniError('not_found', 'this server has no dashboard build', {
        hint: 'run `npm run build` (it compiles the dashboard into dist/ui)',
      });
    const file = uiFile(dir, req.url);
    if (file === undefined) throw new AgniError('bad_request', 'path: not a file of the dashboard');
    const size = await isFile(file);
    if (size !== undefined) return send(reply, file, size, file.startsWith(join(dir, 'assets') + sep));
    // A missing asset is a 404 (a stale hashed name must not come back as HTML); other paths are the SPA's.
    if (/\.[a-z0-9]+$/i.test(req.url.split('?', 1)[0]!))
      throw new AgniError('not_found', `no dashboard file ${req.url.split('?', 1)[0]}`);
    return send(reply, index, indexSize, false);
  };

  app.get(UI_PREFIX, (_req, reply) => reply.redirect(`${UI_PREFIX}/`, 302));
  app.get(`${UI_PREFIX}/`, handler);
  app.get(`${UI_PREFIX}/*`, handler);
}
