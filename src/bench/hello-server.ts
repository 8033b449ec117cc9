/**
 * The ceiling of `agni bench load`: a bare Fastify server in a process of its own, whose POST route
 * takes the body and answers "hello". What HTTP itself costs on this machine, in the same run.
 * Run as a script, it prints its URL on stdout once listening and stops on SIGTERM or stdin's end.
 */
import Fastify from 'fastify';
import { serveAsScript } from './ceiling-script.js';

export async function startHello(): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/v1/functions/:name/invoke', async () => 'hello\n');
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/')))
  await serveAsScript(startHello);
