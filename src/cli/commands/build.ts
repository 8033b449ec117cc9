/**
 * `agni build DIR` and `agni push IMAGE [TARGET]`: an OCI image of a function directory, made by
 * the server on agni.yaml's `runtime:` (a registry image), and sent to a registry. `agni deploy
 * --build` (functions-action.ts) uses `buildAndMaybePush` (build-action.ts) and deploys on the image
 * it made.
 */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./build-action.js');

export function registerBuild(program: Command): void {
  program
    .command('build')
    .argument('<dir>', 'directory containing agni.yaml (runtime: the base image) and the function files')
    .description('build an OCI image of a function: the base image plus a layer with DIR at /fn')
    .option('-t, --tag <ref>', 'name the image (default agni.local/<name>:latest)')
    .option('--platform <os/arch[,os/arch...]>', "platforms to build for (default: the server's)")
    .option('--push', 'push the image to its tag afterwards (needs -t with a registry)')
    .option('--pull', "look up the base image's tag again even when the server has it")
    .option('--insecure', 'talk plain http to a non-loopback registry')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The image is reproducible: the same files, agni.yaml and base give the same digest (mtimes are
set to SOURCE_DATE_EPOCH, or 0; owners and modes are normalised). DIR is sent as agni deploy sends
it: symlinks as symlinks, minus .git/, __pycache__/, *.pyc and what DIR/.agniignore names.

Examples:
  agni build examples/wordcount
  agni build ./fn -t 127.0.0.1:5000/team/fn:v1 --push
  agni build ./fn -t ghcr.io/me/fn:1 --platform linux/amd64,linux/arm64 --push
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) agni build ./fn --json`,
    )
    .action(lazyAction(async () => (await actions()).build));

  program
    .command('push')
    .argument('<image>', 'a built or pulled image, e.g. agni.local/fn:latest or 127.0.0.1:5000/team/fn:v1')
    .argument('[target]', 'where to push it (default: IMAGE itself)')
    .description('push a stored image to an OCI registry (a multi-platform build pushes its index)')
    .option('--insecure', 'talk plain http to a non-loopback registry')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni push 127.0.0.1:5000/team/fn:v1\n  agni push agni.local/wordcount:latest ghcr.io/me/wordcount:1 --json',
    )
    .action(lazyAction(async () => (await actions()).push));
}
