// Writes docs/api.md's route index from a real server's /openapi.json (npm run docs:api).
// With --check it writes nothing and exits 1 when the file is out of date.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { routeIndexMarkdown, withRouteIndex } from '../dist/src/api/openapi-markdown.js';
import { startEmbedded } from '../dist/src/main/embedded.js';

const home = mkdtempSync(join(tmpdir(), 'agni-docs-api-'));
const server = await startEmbedded({
  home,
  host: '127.0.0.1',
  port: 0,
  backend: 'process',
  slots: 1,
  maxPayloadBytes: 1024 * 1024,
  logger: pino({ level: 'silent' }),
});
try {
  const doc = await (await fetch(`${server.url}/openapi.json`)).json();
  const file = 'docs/api.md';
  const before = readFileSync(file, 'utf8');
  const after = withRouteIndex(before, routeIndexMarkdown(doc));
  if (process.argv.includes('--check')) {
    if (before !== after) {
      console.error(`${file} is out of date: run npm run docs:api`);
      process.exitCode = 1;
    }
  } else if (before !== after) {
    writeFileSync(file, after);
    console.log(`${file}: route index written`);
  }
} finally {
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
