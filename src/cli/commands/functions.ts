import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import { DEFAULT_IGNORE, IGNORE_FILE } from '../upload-ignore.js';

const actions = () => import('./functions-action.js');
const deployAction = () => import('./deploy-action.js');

export function registerFunctions(program: Command): void {
  program
    .command('deploy')
    .argument('<dir>', 'directory containing agni.yaml and the function files')
    .description('upload a function directory as a new immutable version')
    .option('--json', 'print the result as JSON')
    .option('--build', 'first build an OCI image of DIR on its runtime: (see agni build), then run on it')
    .option('-t, --tag <ref>', 'with --build: name the image (default agni.local/<name>:latest)')
    .option('--push', 'with --build: push the image to its tag before deploying')
    .option(
      '--platform <os/arch[,os/arch...]>',
      "with --build: platforms to build for (default: the server's)",
    )
    .option('--insecure', 'with --build: talk plain http to a non-loopback registry')
    .addHelpText(
      'after',
      `
Symlinks are sent as symlinks (an absolute one resolves inside the sandbox). node_modules and venvs
are sent; ${DEFAULT_IGNORE.join(', ')} and what DIR/${IGNORE_FILE} (gitignore syntax) names are not,
and a "skipped ..." line says what was left out (--json: "skipped").

Examples:
  agni deploy examples/wordcount
  agni deploy ./my-fn --json
  echo 'data/' >> ./my-fn/${IGNORE_FILE} && agni deploy ./my-fn
  agni deploy ./my-fn --build -t 127.0.0.1:5000/team/my-fn:v1 --push`,
    )
    .action(lazyAction(async () => (await deployAction()).deploy));

  program
    .command('ls')
    .description('list functions')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  agni ls\n  agni ls --json')
    .action(lazyAction(async () => (await actions()).list));

  program
    .command('rm')
    .argument('<name>', 'function name, or NAME@VERSION to remove one version')
    .description('remove a function with all its versions and aliases, or one version')
    .addHelpText(
      'after',
      '\nA version that is live or that an alias points to is not removed (move them first).\n\nExamples:\n  agni rm wordcount\n  agni rm wordcount@2',
    )
    .action(lazyAction(async () => (await actions()).remove));

  program
    .command('versions')
    .argument('<name>', 'function name')
    .description("list a function's versions, newest first")
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  agni versions wordcount --json')
    .action(lazyAction(async () => (await actions()).versions));
}
