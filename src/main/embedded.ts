/**
 * Composition root of embedded mode: one process with the API, an in-process dispatcher, a
 * local agent and the SQLite store. Cluster mode will swap the store and dispatcher here only.
 */

import { mkdir } from 'node:fs/promises';
import { hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { NodeImageSource } from '../agent/image-source.js';
import { LambdaKind } from '../agent/lambda-worker.js';
import { PrewarmPool } from '../agent/prewarm-pool.js';
import { WarmWorkers } from '../agent/warm-workers.js';
import { OpenRequests } from '../api/open-requests.js';
import { buildApi } from '../api/server.js';
import { AccessKeys } from '../app/access-keys.js';
import { ApiTokens } from '../app/api-tokens.js';
import { Deployer } from '../app/deployer.js';
import { DiskGuard } from '../app/disk-guard.js';
import { Invoker } from '../app/invoker.js';
import { followLiveChanges, publishLiveChange } from '../app/live-changes.js';
import { checkVolumeDirs } from '../app/node-volumes.js';
import { OciRuntime } from '../app/oci-runtime.js';
import { Pipeline } from '../app/pipeline.js';
import { Releases } from '../app/releases.js';
import { SecretBox } from '../app/secret-box.js';
import { Secrets } from '../app/secrets.js';
import { VolumeFiles } from '../app/volume-files.js';
import { localHeartbeat } from '../cluster/local-heartbeat.js';
import { LocalNodeAdmin } from '../cluster/node-admin.js';
import { parseAllowList } from '../core/address-policy.js';
import { hostPolicy } from '../core/allowed-hosts.js';
import { AgniError } from '../core/errors.js';
import { regionOf } from '../core/lambda.js';
import { DEFAULT_LIMITS, type MinFree, type UnpackLimits } from '../core/limits.js';
import { subjectPrefixOf } from '../core/trigger-spec.js';
import { checkVolumeNames, type VolumeDecl } from '../core/volumes.js';
import { LocalDispatcher } from '../dispatch/local-dispatcher.js';
import type { EventBus } from '../events/event-bus.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { removeChildren } from '../image/extract-upload.js';
import { ImageInsight } from '../image/image-insight.js';
import { LocalImages } from '../image/local-images.js';
import { ImageRootfsResolver } from '../image/oci/image-rootfs.js';
import type { Platform } from '../image/oci/media-types.js';
import { nodePlatforms } from '../image/oci/node-platforms.js';
import { OciImages } from '../image/oci/pull-service.js';
import type { Backend } from '../sandbox/backend.js';
import { createBackend } from '../sandbox/select.js';
import { SqlAccessKeyRepository } from '../store/access-key-repo.js';
import { SqlApiTokenRepository } from '../store/api-token-repo.js';
import { SqlAsyncRepo } from '../store/async-sql.js';
import { FileBlobStore } from '../store/blob/file-blob-store.js';
import { SqlFunctionAliasRepository } from '../store/function-alias-repo.js';
import { SqlImageAliasRepository } from '../store/image-alias-repo.js';
import { SqlJobRepository } from '../store/job-repo.js';
import { SqlOciImageRepository } from '../store/oci-image-repo.js';
import { openStore } from '../store/open.js';
import { SqlSecretRepository } from '../store/secret-repo.js';
import { ServerInstance } from '../store/server-instances.js';
import type { Store } from '../store/store.js';
import { SqlTriggerStateRepo } from '../store/trigger-state.js';
import { VersionResolver } from '../store/version-resolver.js';
import { AsyncQueue } from '../triggers/async-queue.js';
import { CallbackSender } from '../triggers/callbacks.js';
import { JobRunner } from '../triggers/jobs.js';
import { settlesOverBus } from '../triggers/settled-events.js';
import { DEFAULT_NATS_URL, TriggerManager } from '../triggers/trigger-manager.js';

export interface EmbeddedOptions {
  home: string;
  /** where the dashboard's bench charts read results (default bench/results of this checkout) */
  benchDir?: string;
  /** the state store (`agni up --store`): a SQLite file (default $AGNI_HOME/agni.db) or a postgres:// URL */
  store?: string;
  host: string;
  port: number;
  backend: 'auto' | 'runc' | 'process';
  slots: number;
  /** invocations that may wait for a slot before new ones get 429 */
  maxQueue?: number;
  token?: string;
  /** Host names the API answers besides localhost and IP literals (`agni up --allow-host`); `*` for any */
  allowedHosts?: string[];
  /** private callback destinations allowed (`agni up --callback-allow`): IPs, CIDRs, host names */
  callbackAllow?: string[];
  /** NATS subjects subject triggers may use (`agni up --subject-prefix`, default `agni.`) */
  subjectPrefix?: string;
  /** NATS for subject triggers (default $AGNI_NATS_URL, else nats://127.0.0.1:4222); connected only when needed */
  natsUrl?: string;
  /** platforms this node runs, best first (default: nodePlatforms(), i.e. AGNI_PLATFORMS or host + emulated) */
  platforms?: Platform[];
  maxPayloadBytes: number;
  /** async invocations accepted and not yet finished before `POST .../async` answers 429 (`--async-queue`) */
  maxAsyncQueue?: number;
  /** bytes of an async invocation's stdout kept on disk; the rest is counted and dropped (`--max-output`) */
  maxOutputBytes?: number;
  /** bytes one deploy, imported rootfs, build upload or image layer may unpack to (`--max-unpack`) */
  maxUnpackBytes?: number;
  /** files one deploy, imported rootfs, build upload or image layer may unpack to (`--max-files`) */
  maxUnpackFiles?: number;
  /** free space kept on $AGNI_HOME's filesystem; work that writes is refused (507) below it (`--min-free`) */
  minFree?: MinFree;
  logger?: Logger;
  /** a request body that sends nothing this long (while read) is cut and frees what it held; 0: never (default 30s) */
  uploadIdleMs?: number;
  /** at close, how long open requests may take to end before their connections are cut (default 10s) */
  graceMs?: number;
  /** AWS_REGION (and the function ARN's region) of protocol: lambda functions (default us-east-1); when set, also the region signed Lambda API requests must name */
  lambdaRegion?: string;
  /** events between servers (cluster mode: a NatsEventBus, closed by its maker); default one in-process */
  bus?: EventBus;
  /** who this server is among several on one database (default `embedded`): owner of its sync invocations' rows */
  instance?: string;
  /** named host directories functions may mount (`agni up --volume NAME=/path[:ro|:rw]`) */
  volumes?: VolumeDecl[];
}

export interface Embedded {
  url: string;
  backend: Backend;
  store: Store;
  api: FastifyInstance;
  /** leftovers of a previous crashed run that were cleaned at start */
  recovered: number;
  /** prewarmed pools (absent when the backend cannot prepare sandboxes ahead) */
  prewarm?: PrewarmPool;
  /** Stops everything; requests still open after the grace period are cut, and listed. */
  close(): Promise<CloseReport>;
}

export interface CloseReport {
  /** requests whose connections were cut when the grace period ran out (`METHOD URL (invocations …)`) */
  cut: string[];
  graceMs: number;
}

const DEFAULT_GRACE_MS = 10_000;

export async function startEmbedded(o: EmbeddedOptions): Promise<Embedded> {
  const logger = o.logger ?? pino({ level: process.env.AGNI_LOG_LEVEL ?? 'info' }, pino.destination(2));
  // Checked before anything is made, so a bad setting leaves nothing behind.
  const callbackAllow = parseAllowList(o.callbackAllow ?? []);
  const subjectPrefix = subjectPrefixOf(o.subjectPrefix);
  const lambdaRegion = regionOf(o.lambdaRegion);
  const volumes = await checkVolumeDirs(o.volumes ?? []);
  await mkdir(o.home, { recursive: true, mode: 0o700 });
  const store = await openStore(o.store || join(o.home, 'agni.db'), { owner: o.instance });
  const backend = await createBackend(o.backend, o.home).catch(async (e) => {
    await store.close();
    throw e;
  });
  const recovered = await backend.recover();
  // Sync calls left running by this server's last life (another server's live ones stay).
  const instance = new ServerInstance(store, { logger });
  const interrupted = await instance.start();
  if (recovered || interrupted) logger.warn({ recovered, interrupted }, 'cleaned up after an unclean stop');

  const unpack: UnpackLimits = {
    maxBytes: o.maxUnpackBytes ?? DEFAULT_LIMITS.unpack.maxBytes,
    maxFiles: o.maxUnpackFiles ?? DEFAULT_LIMITS.unpack.maxFiles,
  };
  const disk = new DiskGuard(o.home, o.minFree ?? DEFAULT_LIMITS.minFree);
  const images = new LocalImages(store, o.home, unpack);
  const oci = new OciImages(o.home, new SqlOciImageRepository(store.db), (msg) => logger.debug(msg));
  const ociRootfs = new ImageRootfsResolver(o.home, oci.content, unpack);
  const platforms = o.platforms ?? nodePlatforms();
  const node = hostname();
  const imageSource = new NodeImageSource(images, ociRootfs, platforms, node);
  // Prewarmed sandboxes: at most one per slot, and a quarter of the machine's memory in limits.
  const prewarm = backend.prepare
    ? new PrewarmPool(backend, {
        maxSandboxes: o.slots,
        memoryBudgetBytes: Math.floor(totalmem() * 0.25),
        logger,
      })
    : undefined;
  // Lambda workers' Runtime API: a Unix socket forwarded into each runc sandbox's own loopback.
  const lambda = new LambdaKind({
    region: lambdaRegion,
    ...(backend.isolated ? { socketDir: join(o.home, 'run', 'lambda') } : {}),
  });
  const warm = backend.startWorker
    ? new WarmWorkers({ startWorker: backend.startWorker.bind(backend) }, undefined, logger, lambda)
    : undefined;
  const box = new SecretBox(o.home);
  // A secret set again: prewarmed sandboxes and warm workers holding the old value go, so the
  // next call's sandbox is made with the new one (docs/security.md).
  const secrets = new Secrets(
    new SqlSecretRepository(store.db),
    box,
    store,
    async (_name, usedBy) => {
      for (const fn of usedBy) await agent.drain(fn);
    },
    logger,
  );
  // A streamed payload (a pipe stage's input) is buffered for warm workers up to the payload limit.
  const agent = new Agent(
    backend,
    (id, what) => imageSource.resolve(id, what),
    { node, platforms, slots: o.slots },
    { prewarm, warm },
    o.maxPayloadBytes,
    (refs, what) => secrets.values(refs, what),
    volumes,
  );
  const dispatcher = new LocalDispatcher(agent, o.maxQueue);
  const functionAliases = new SqlFunctionAliasRepository(store.db);
  const resolver = new VersionResolver(store, functionAliases);
  const invoker = new Invoker(store, dispatcher, resolver);
  const pipeline = new Pipeline(resolver, dispatcher, (d) => new Invoker(store, d, resolver));
  const asyncRepo = new SqlAsyncRepo(store.db);
  // Payloads, outputs and job inputs live under $AGNI_HOME, by key (async/..., jobs/...).
  const blobs = new FileBlobStore(o.home);
  const queue = new AsyncQueue({
    blobs,
    store,
    resolver,
    repo: asyncRepo,
    invoker,
    dispatcher,
    logger,
    maxInFlight: o.slots,
    maxQueued: o.maxAsyncQueue ?? DEFAULT_LIMITS.maxAsyncQueue,
    maxOutputBytes: o.maxOutputBytes ?? DEFAULT_LIMITS.maxOutputBytes,
    disk,
  });
  const callbacks = new CallbackSender(asyncRepo, store, queue, logger, callbackAllow);
  // Settles reach their listeners through the event bus, as in cluster mode (one process here).
  const bus = o.bus ?? new InProcessEventBus(logger);
  const settling = settlesOverBus({ queue, bus, logger, onAnySettle: () => callbacks.kick() });
  const jobs = new JobRunner({
    blobs,
    repo: new SqlJobRepository(store.db),
    queue: settling.settles,
    store,
    resolver,
    maxPayloadBytes: o.maxPayloadBytes,
    logger,
    events: bus,
    refs: new VolumeFiles(volumes),
  });
  const triggers = new TriggerManager({
    store,
    repo: new SqlTriggerStateRepo(store.db, store.owner),
    invoker,
    submitter: settling.settles,
    logger,
    natsUrl: o.natsUrl || process.env.AGNI_NATS_URL || DEFAULT_NATS_URL,
    subjectPrefix,
  });
  const aliases = new SqlImageAliasRepository(store.db);
  // The live version changed (deploy, rollback, removal): pools and warm workers of other versions
  // go, and triggers that follow the live version now run the new one.
  const liveChanged = async (fn: string, keep: number | undefined) => {
    // Removed: its calls still waiting for a slot never start (running ones finish, see whenIdle).
    if (keep === undefined)
      dispatcher.cancelQueued(
        fn,
        new AgniError('function_not_found', `${fn} was removed while this call waited for a slot`, {
          hint: 'deploy it again with `agni deploy DIR`',
        }),
      );
    await agent.drain(fn, keep);
    await triggers.reconcile(fn);
    publishLiveChange(bus, fn, store.owner, logger);
  };
  // The same, for changes another server on this database made.
  const unfollow = followLiveChanges(
    bus,
    store.owner,
    async (fn) => {
      await agent.drain(fn, (await store.getLatestVersion(fn))?.version);
      await triggers.reconcile(fn);
    },
    logger,
  );
  const releases = new Releases(store, functionAliases, liveChanged);
  const deployer = new Deployer(
    store,
    o.home,
    liveChanged,
    async (m) => {
      await triggers.checkClaims(m);
      await secrets.checkRefs(m);
      checkVolumeNames(
        m.volumes,
        volumes.map((d) => d.name),
      );
    },
    new OciRuntime(oci, ociRootfs, platforms, (canonical) => aliases.forCanonical(canonical)),
    { limits: unpack, whenIdle: (fn) => dispatcher.whenIdle(fn) },
  );
  // Leftovers of uploads a previous process did not finish (a crash, a failed removal).
  const swept =
    (await deployer.sweep()) + (await removeChildren(join(o.home, 'build'))) + (await images.gc());
  if (swept) logger.warn({ swept }, 'removed staging directories left by the last run');
  const openRequests = new OpenRequests();
  const api = buildApi({
    benchDir: o.benchDir,
    store,
    invoker,
    deployer,
    releases,
    images,
    queue,
    settles: settling.settles,
    jobs,
    triggers,
    pipeline,
    aliases,
    oci,
    insight: new ImageInsight({ home: o.home, store, db: store.db, local: images, oci }),
    logger,
    token: o.token,
    apiTokens: new ApiTokens(new SqlApiTokenRepository(store.db), o.token),
    secrets,
    hosts: hostPolicy(o.host, o.allowedHosts ?? [], node),
    callbackAllow,
    maxPayloadBytes: o.maxPayloadBytes,
    home: o.home,
    disk,
    unpackLimits: unpack,
    uploadIdleMs: o.uploadIdleMs,
    openRequests,
    resolver,
    accessKeys: new AccessKeys(new SqlAccessKeyRepository(store.db), box),
    lambdaRegion,
    // Set by the operator, the region is this server's: signatures must name it; unset, any.
    signedRegion: o.lambdaRegion ? lambdaRegion : undefined,
    // `agni nodes` works in both modes: here it lists this one node.
    nodes: new LocalNodeAdmin(
      localHeartbeat({
        node,
        address: o.host,
        platforms,
        backends: [backend.name],
        slots: o.slots,
        memoryBytes: totalmem(),
        startedAt: Date.now(),
        load: () => dispatcher.stats(),
        warm: () => agent.warmVersions(),
        volumes: volumes.map((d) => d.name),
      }),
    ),
    info: () => ({
      mode: 'embedded',
      backend: backend.name,
      isolated: backend.isolated,
      ...dispatcher.stats(),
    }),
  });
  const address = await api.listen({ host: o.host, port: o.port });
  const requeued = await queue.start();
  if (requeued) logger.warn({ requeued }, 'async invocations interrupted by the last stop were queued again');
  callbacks.kick();
  // After the queue's own recovery, so what jobs find running is really still to come.
  const resumed = await jobs.resumeAll();
  if (resumed) logger.warn({ resumed }, 'fan-out jobs interrupted by the last stop go on');
  await triggers.start();

  let closing: Promise<CloseReport> | undefined;
  const graceMs = o.graceMs ?? DEFAULT_GRACE_MS;
  const close = () => {
    closing ??= (async () => {
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'over'>((r) => {
        graceTimer = setTimeout(() => r('over'), graceMs);
      });
      // Stop taking work first, then kill running sandboxes, so open invoke requests end
      // now instead of holding the listener open until their deadlines.
      triggers.stop();
      const jobsClosed = jobs.close();
      queue.close();
      const draining = dispatcher.close();
      const listening = api.close();
      await agent.shutdown();
      await backend.shutdown();
      // A client can still hold its connection (an upload left open, a response it does not read):
      // once the grace period is over, every connection left is cut, and named.
      let cut: string[] = [];
      if ((await Promise.race([listening.then(() => 'closed' as const), graceOver])) === 'over') {
        cut = openRequests.describe();
        if (cut.length > 0) logger.warn({ cut, graceMs }, 'grace period over: open requests cut');
        api.server.closeAllConnections();
      }
      clearTimeout(graceTimer);
      await Promise.all([draining, listening]);
      await queue.drain();
      settling.close();
      await jobsClosed;
      await callbacks.close();
      await triggers.close();
      unfollow();
      if (!o.bus) await bus.close();
      await instance.stop();
      await store.close();
      return { cut, graceMs };
    })();
    return closing;
  };
  return { url: address, backend, store, api, recovered, prewarm, close };
}
