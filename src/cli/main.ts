#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerAgent } from './commands/agent.js';
import { registerAsync } from './commands/async.js';
import { registerBench } from './commands/bench.js';
import { registerBuild } from './commands/build.js';
import { registerFunctions } from './commands/functions.js';
import { registerImageAlias } from './commands/image-alias.js';
import { registerImageArchive } from './commands/image-archive.js';
import { registerImageInsight } from './commands/image-insight.js';
import { registerImageRegistry } from './commands/image-registry.js';
import { registerImages } from './commands/images.js';
import { registerInvoke } from './commands/invoke.js';
import { registerJobs } from './commands/jobs.js';
import { registerMap } from './commands/map.js';
import { registerNodes } from './commands/nodes.js';
import { registerPipe } from './commands/pipe.js';
import { registerReleases } from './commands/releases.js';
import { registerSecret } from './commands/secret.js';
import { registerServer } from './commands/server.js';
import { registerToken } from './commands/token.js';
import { registerTriggers } from './commands/triggers.js';
import { registerUp } from './commands/up.js';
import { handleCliError, installCliGuards } from './errors.js';

export const program = new Command('agni')
  .description('Agni: run functions in any language in isolated sandboxes, on your own machines')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError('(add --help for usage and examples)')
  .addHelpText(
    'after',
    `
Environment:
  AGNI_URL    API to talk to (default http://127.0.0.1:8780)
  AGNI_TOKEN  bearer token, when the server requires one
  AGNI_HOME   state directory of \`agni up\` (default ~/.agni)

Quick tour:
  agni up &
  agni deploy examples/wordcount
  agni invoke wordcount --data "to be or not to be"
  agni logs wordcount
  agni inspect <invocation id>`,
  );

registerUp(program);
registerServer(program);
registerAgent(program);
registerFunctions(program);
registerInvoke(program);
registerReleases(program);
registerPipe(program);
registerMap(program);
registerJobs(program);
registerAsync(program);
registerTriggers(program);
registerImages(program);
registerImageRegistry(program);
registerImageArchive(program);
registerImageInsight(program);
registerBuild(program);
registerImageAlias(program);
registerBench(program);
registerToken(program);
registerNodes(program);
registerSecret(program);

/** Run as the `agni` binary (not imported, as the help and docs tests do to walk the commands). */
function isEntry(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) {
  installCliGuards();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    process.exitCode = handleCliError(e);
  }
}
