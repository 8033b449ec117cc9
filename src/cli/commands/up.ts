import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import { collect } from '../option-parsers.js';
import { backendOption, listenOptions } from '../role-options.js';

const actions = () => import('./up-action.js');

export function registerUp(program: Command): void {
  const up = program
    .command('up')
    .description('start Agni on this machine: API, dispatcher, agent and SQLite store in one process');
  backendOption(listenOptions(up))
    .option('--home <dir>', 'state directory (default $AGNI_HOME or ~/.agni)')
    .option(
      '--store <path|url>',
      'state store: a SQLite file, or a postgres:// URL of a database only this server uses (default $AGNI_STORE or $AGNI_HOME/agni.db)',
    )
    .option('--slots <n>', 'invocations run at once on this node (default: cores)')
    .option('--queue <n>', 'invocations that may wait for a slot; past it the API answers 429', '256')
    .option(
      '--async-queue <n>',
      'async invocations accepted and not yet finished; past it POST .../async answers 429 (default $AGNI_ASYNC_QUEUE or 10000)',
    )
    .option(
      '--max-output <size>',
      "bytes of an async invocation's output kept; the rest is dropped and the result says so (default $AGNI_MAX_OUTPUT or 64Mi)",
    )
    .option(
      '--max-unpack <size>',
      'bytes one deploy, image import, build upload or image layer may unpack to (default $AGNI_MAX_UNPACK or 4Gi)',
    )
    .option(
      '--max-files <n>',
      'files one deploy, image import, build upload or image layer may unpack to (default $AGNI_MAX_FILES or 200000)',
    )
    .option(
      '--min-free <size|pct>',
      "free space kept on $AGNI_HOME's disk: below it deploys, imports, pulls, builds and async payloads get 507 (default $AGNI_MIN_FREE or 1Gi; 0 turns it off)",
    )
    .option(
      '--nats <url>',
      'NATS server for subject triggers (default $AGNI_NATS_URL or nats://127.0.0.1:4222)',
    )
    .option(
      '--platforms <list>',
      'platforms this node runs, best first (default $AGNI_PLATFORMS, else the host + qemu-emulated ones)',
    )
    .option(
      '--allow-host <name>',
      'a Host name the API answers besides localhost and IP addresses (repeatable; also $AGNI_ALLOWED_HOSTS, comma-separated; * for any)',
      collect,
    )
    .option(
      '--callback-allow <cidr|host>',
      'let async callbacks reach this private address range or host name (repeatable; also $AGNI_CALLBACK_ALLOW)',
      collect,
    )
    .option(
      '--subject-prefix <prefix>',
      'NATS subjects that subject triggers may use (default $AGNI_SUBJECT_PREFIX or agni.)',
    )
    .option(
      '--upload-idle <duration>',
      'cut a request body that sends nothing this long, freeing its slots; 0: never (default $AGNI_UPLOAD_IDLE or 30s)',
    )
    .option(
      '--grace <duration>',
      'on SIGTERM/SIGINT, how long open requests may take to end before their connections are cut (default $AGNI_GRACE or 10s)',
    )
    .option(
      '--lambda-region <region>',
      'AWS_REGION and the ARN region that protocol: lambda functions see, and the region AWS-signed Lambda API calls must name (default $AGNI_LAMBDA_REGION, else us-east-1 and calls may name any)',
    )
    .option(
      '--volume <name=path[:ro|:rw]>',
      'a host directory functions may mount by name (agni.yaml volumes:); read-only unless :rw here and mode: rw there (repeatable; also $AGNI_VOLUMES, comma-separated)',
      collect,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  agni up\n  agni up --volume data=/srv/data --volume scratch=/srv/scratch:rw   # for agni.yaml volumes: and agni map --ref\n  agni up --port 9000 --backend runc\n  AGNI_TOKEN=s3cret agni up --host 0.0.0.0   # the server token, an admin token (more: agni token create)\n  AGNI_TOKEN=s3cret agni up --host 0.0.0.0 --allow-host agni.example.com   # webhooks from GitHub\n  agni up --callback-allow 127.0.0.1 --callback-allow 10.1.0.0/16   # callbacks to local receivers\n  agni up --subject-prefix team1.\n  agni up --platforms linux/arm64   # an ARM node, by qemu-user-static emulation\n  agni up --async-queue 50000 --max-output 256Mi\n  agni up --max-unpack 8Gi --max-files 500000 --min-free 5%\n  agni up --upload-idle 2m --grace 30s   # slow uploaders, long-running calls\n  agni up --lambda-region eu-west-1   # what Lambda functions read as AWS_REGION\n  agni up --store postgres://agni@127.0.0.1:5432/agni   # state in PostgreSQL',
    )
    .action(lazyAction(async () => (await actions()).up));
}
