/**
 * What `agni up` does, imported only when it runs (lazy-action.ts); its arguments, options and help
 * are in up.ts.
 */
import { agniHome, defaultSlots, maxPayloadBytes } from '../../app/config.js';
import { parseVolumeFlags } from '../../core/volumes.js';
import { formatPlatform } from '../../image/oci/platform.js';
import { type LimitFlags, limitOptions } from '../../main/limit-options.js';
import { intOption, listOption } from '../option-parsers.js';
import { checkBackend } from '../role-options.js';

export async function up(
  o: {
    home?: string;
    store?: string;
    host: string;
    port: string;
    backend: string;
    egressPool?: string;
    slots?: string;
    queue: string;
    nats?: string;
    platforms?: string;
    allowHost?: string[];
    callbackAllow?: string[];
    subjectPrefix?: string;
    lambdaRegion?: string;
    volume?: string[];
  } & LimitFlags,
): Promise<void> {
  const backend = checkBackend(o.backend);
  // Loaded after the --backend check: a mistyped flag is answered without loading the engine first.
  const { startEmbedded } = await import('../../main/embedded.js');
  const { nodePlatforms, parsePlatformList } = await import('../../image/oci/node-platforms.js');
  const platforms = o.platforms ? parsePlatformList(o.platforms, '--platforms') : nodePlatforms();
  const volumes = parseVolumeFlags(listOption(o.volume, process.env.AGNI_VOLUMES));
  const server = await startEmbedded({
    home: o.home ?? agniHome(),
    store: o.store ?? process.env.AGNI_STORE,
    host: o.host,
    port: intOption('--port', o.port, 0),
    backend,
    egressPool: o.egressPool || process.env.AGNI_EGRESS_POOL || undefined,
    slots: o.slots ? intOption('--slots', o.slots, 1) : defaultSlots(),
    maxQueue: intOption('--queue', o.queue, 0),
    token: process.env.AGNI_TOKEN || undefined,
    allowedHosts: listOption(o.allowHost, process.env.AGNI_ALLOWED_HOSTS),
    callbackAllow: listOption(o.callbackAllow, process.env.AGNI_CALLBACK_ALLOW),
    subjectPrefix: o.subjectPrefix ?? process.env.AGNI_SUBJECT_PREFIX,
    natsUrl: o.nats,
    platforms,
    maxPayloadBytes: maxPayloadBytes(),
    ...limitOptions(o),
    lambdaRegion: o.lambdaRegion ?? process.env.AGNI_LAMBDA_REGION,
    volumes,
  });
  const b = server.backend;
  process.stdout.write(`agni up: listening on ${server.url}\n`);
  process.stdout.write(
    b.isolated
      ? `agni up: backend ${b.name} (isolated sandboxes)\n`
      : `agni up: backend ${b.name}: NO ISOLATION, functions run as plain host processes (development only)\n`,
  );
  process.stdout.write(`agni up: platforms ${platforms.map(formatPlatform).join(', ')}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      process.stdout.write(`agni up: ${sig}, shutting down\n`);
      server.close().then(
        ({ cut, graceMs }) => {
          if (cut.length > 0)
            process.stdout.write(
              `agni up: grace period of ${graceMs / 1000}s over: cut ${cut.length} open request(s): ${cut.join('; ')}\n`,
            );
          resolve();
        },
        (e) => {
          process.stderr.write(`agni up: shutdown failed: ${(e as Error).message}\n`);
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.stdout.write('agni up: stopped cleanly\n');
}
