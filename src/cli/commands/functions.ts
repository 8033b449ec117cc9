import type { Command } from 'commander';
import { AgniError } from '../../core/errors.js';
import { parseTarget } from '../../core/qualifier.js';
import { formatBytes, formatMs } from '../../core/units.js';
import type { FunctionRecord, VersionRecord } from '../../store/store.js';
import { ApiClient } from '../client.js';
import { functionUpload, skippedSummary } from '../dir-upload.js';
import { ago, printJson, printTable } from '../output.js';
import { DEFAULT_IGNORE, IGNORE_FILE } from '../upload-ignore.js';
import { type BuildFlags, buildAndMaybePush, readFunctionDir, skippedList } from './build.js';

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
    .action(async (dir: string, o: BuildFlags & { build?: boolean }) => {
      if (!o.build && (o.tag || o.push || o.platform)) {
        throw new AgniError('bad_request', '-t, --push and --platform go with --build', {
          hint: 'agni deploy DIR --build -t REF --push',
        });
      }
      const built = o.build ? await buildAndMaybePush(dir, o) : undefined;
      // Validated here first, so an error names the user's own path rather than the server's copy.
      const { root, manifest: m } = await readFunctionDir(dir);
      const upload = await functionUpload(root);
      // With --build the build step has said it already: the same rules, the same files.
      if (!o.json && !built) process.stdout.write(skippedSummary(upload));
      const r = await new ApiClient().upload<{ name: string; version: number; runtime?: string }>(
        built ? `/v1/functions?runtime=${encodeURIComponent(built.runtime)}` : '/v1/functions',
        upload.body,
        'application/gzip',
      );
      const skipped = skippedList(upload);
      if (o.json)
        printJson(
          built
            ? { ...r, skipped, build: built.build, ...(built.push ? { push: built.push } : {}) }
            : { ...r, skipped },
        );
      else
        process.stdout.write(
          `deployed ${r.name} version ${r.version} (runtime ${built?.runtime ?? m.runtime})\n`,
        );
    });

  program
    .command('ls')
    .description('list functions')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  agni ls\n  agni ls --json')
    .action(async (o: { json?: boolean }) => {
      const { functions } = await new ApiClient().json<{ functions: FunctionRecord[] }>(
        'GET',
        '/v1/functions',
      );
      if (o.json) return printJson(functions);
      printTable(
        ['NAME', 'VERSION', 'RUNTIME', 'MEMORY', 'TIMEOUT', 'CONCURRENCY', 'UPDATED'],
        functions.map((f) => [
          f.function,
          // After a rollback the live version is not the newest one: say both.
          f.newest > f.version ? `${f.version} (newest ${f.newest})` : f.version,
          f.manifest.runtime,
          formatBytes(f.manifest.limits.memoryBytes),
          formatMs(f.manifest.limits.timeoutMs),
          f.manifest.concurrency,
          ago(f.createdAt),
        ]),
      );
    });

  program
    .command('rm')
    .argument('<name>', 'function name, or NAME@VERSION to remove one version')
    .description('remove a function with all its versions and aliases, or one version')
    .addHelpText(
      'after',
      '\nA version that is live or that an alias points to is not removed (move them first).\n\nExamples:\n  agni rm wordcount\n  agni rm wordcount@2',
    )
    .action(async (name: string) => {
      const t = parseTarget(name, 'NAME');
      if (t.qualifier.kind === 'version') {
        await new ApiClient().json(
          'DELETE',
          `/v1/functions/${encodeURIComponent(t.name)}/versions/${t.qualifier.version}`,
        );
        process.stdout.write(`removed version ${t.qualifier.version} of ${t.name}\n`);
        return;
      }
      if (t.qualifier.kind === 'alias')
        throw new AgniError('bad_request', `NAME: ${name}: rm takes NAME or NAME@VERSION`, {
          hint: `remove an alias with \`agni alias rm ${t.name} ${t.qualifier.alias}\``,
        });
      const r = await new ApiClient().json<{ versions: number }>(
        'DELETE',
        `/v1/functions/${encodeURIComponent(name)}`,
      );
      process.stdout.write(`removed ${name} (${r.versions} version${r.versions === 1 ? '' : 's'})\n`);
    });

  program
    .command('versions')
    .argument('<name>', 'function name')
    .description("list a function's versions, newest first")
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  agni versions wordcount --json')
    .action(async (name: string, o: { json?: boolean }) => {
      const { versions, live } = await new ApiClient().json<{ versions: VersionRecord[]; live?: number }>(
        'GET',
        `/v1/functions/${encodeURIComponent(name)}/versions`,
      );
      if (o.json) return printJson(versions);
      printTable(
        ['VERSION', 'RUNTIME', 'COMMAND', 'CREATED'],
        versions.map((v) => [
          v.version === live ? `${v.version} (live)` : v.version,
          v.manifest.runtime,
          v.manifest.command.join(' ').slice(0, 60),
          ago(v.createdAt),
        ]),
      );
    });
}
