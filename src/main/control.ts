/**
 * What `agni up` and `agni server` share: the store, images, API, async queue, jobs and triggers,
 * over a Dispatcher that each role makes (an Execution): embedded mode's in-process agent, or a
 * cluster server's remote nodes. The roles' composition roots (embedded.ts, server.ts) differ only
 * in what they hand in here.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { SecretSource } from '../agent/agent.js';
import { NodeImageSource } from '../agent/image-source.js';
import { OpenRequests } from '../api/open-requests.js';
import { buildApi } from '../api/server.js';
import { AccessKeys } from '../app/access-keys.js';
import { ApiTokens } from '../app/api-tokens.js';
import type { RegistryCodePublisher } from '../app/code-publisher.js';
import { DEFAULT_NATS_URL } from '../app/config.js';
import { Deployer } from '../app/deployer.js';
import { DiskGuard } from '../app/disk-guard.js';
import { InvocationFeed } from '../app/invocation-feed.js';
import { logInvocations, meterInvocations } from '../app/invocation-observers.js';
import { shareInvocations } from '../app/invocation-sharing.js';
import { Invoker } from '../app/invoker.js';
import { followLiveChanges, publishLiveChange } from '../app/live-changes.js';
import { checkVolumeDirs } from '../app/node-volumes.js';
import { OciRuntime } from '../app/oci-runtime.js';
import { Pipeline } from '../app/pipeline.js';
import { PromMetrics } from '../app/prom-metrics.js';
import { Releases } from '../app/releases.js';
import { SecretBox } from '../app/secret-box.js';
import { Secrets } from '../app/secrets.js';
import { VolumeFiles } from '../app/volume-files.js';
import type { NodeAdmin } from '../cluster/node-admin.js';
import { parseAllowList } from '../core/address-policy.js';
import { hostPolicy } from '../core/allowed-hosts.js';
import { AgniError } from '../core/errors.js';
import { regionOf } from '../core/lambda.js';
import { DEFAULT_LIMITS, type MinFree, type UnpackLimits } from '../core/limits.js';
import type { Metrics, NodeSources } from '../core/metrics.js';
import { subjectPrefixOf } from '../core/trigger-spec.js';
import { checkVolumeNames, type VolumeDecl } from '../core/volumes.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { EventBus } from '../events/event-bus.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { removeChildren } from '../image/extract-upload.js';
import { ImageInsight } from '../image/image-insight.js';
import { LocalImages } from '../image/local-images.js';
import { ImageRootfsResolver } from '../image/oci/image-rootfs.js';
import type { Platform } from '../image/oci/media-types.js';
import { nodePlatforms } from '../image/oci/node-platforms.js';
import { OciImages } from '../image/oci/pull-service.js';
import { SqlAccessKeyRepository } from '../store/access-key-repo.js';
import { SqlApiTokenRepository } from '../store/api-token-repo.js';
import { SqlAsyncRepo } from '../store/async-sql.js';
import { SqlBenchSweepRepository } from '../store/bench-sweep-repo.js';
import type { BlobStore } from '../store/blob/blob-store.js';
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
import { AsyncQueue, type AsyncQueueOptions } from '../triggers/async-queue.js';
import { CallbackSender } from '../triggers/callbacks.js';
import { JobRunner } from '../triggers/jobs.js';
import { settlesOverBus } from '../triggers/settled-events.js';
import { TriggerManager } from '../triggers/trigger-manager.js';
import { roleLogger } from './role-logger.js';

export interface ControlOptions {
  home: string;
  /** where the dashboard's bench charts read results (default bench/results of this checkout) */
  benchDir?: string;
  /**
   * this server among the servers of one store: its sync invocation rows carry it, and recovery
   * leaves other live instances' rows alone (default `embedded`)
   */
  instance?: string;
  /** settles, job changes and live-version changes between servers (default: in this process only) */
  bus?: EventBus;
  /** named host directories functions may mount (`--volume NAME=/path[:ro|:rw]`): this node's, and what `agni map --ref` expands */
  volumes?: VolumeDecl[];
  /** the state store (`agni up --store`): a SQLite file (default $AGNI_HOME/agni.db) or a postgres:// URL */
  store?: string;
  host: string;
  port: number;
  /** this node's slots: embedded mode's agent, and the async queue's calls in flight */
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
}

/** What a cluster server puts in place of embedded mode's local parts. */
export interface ControlParts {
  /** payloads, outputs and job inputs (default: files under $AGNI_HOME) */
  blobs?: BlobStore;
  /** the async queue's work queue, claim owner and lease (cluster: the JetStream work queue) */
  asyncQueue?: Partial<Pick<AsyncQueueOptions, 'work' | 'owner' | 'leaseMs' | 'sweepMs'>>;
  /** every version's code (and image) pushed to the cluster registry at deploy (made over this server's images) */
  publisher?: (oci: OciImages) => RegistryCodePublisher;
}

/** What the role runs calls on, made once the store and images exist. */
export interface Execution {
  dispatcher: Dispatcher;
  /** a removed function's calls still waiting for a slot are rejected with `reason` */
  cancelQueued?(fn: string, reason: AgniError): number;
  /** undefined when no call of `fn` runs here; else settles once the last one ended */
  whenIdle?(fn: string): Promise<void> | undefined;
  /** kept sandboxes (prewarmed, warm workers) of other versions than `keep` go */
  drain(fn: string, keep: number | undefined): Promise<void>;
  /** what GET /v1/info says of how calls run */
  info(): Record<string, unknown>;
  /** leftovers of a previous crashed run cleaned at start */
  recovered: number;
  /** at close, once the dispatcher stopped taking work: kill what runs and release it */
  stop(): Promise<void>;
  /** at close, last: what the execution holds open (connections) */
  close?(): Promise<void>;
  /** the nodes behind GET /v1/nodes (`agni nodes`) */
  nodes?: NodeAdmin;
  /** per-node state the metrics read at each scrape */
  metricNodes?(): NodeSources[];
  /** the volumes a deployed function may name: this node's, or those of any node of the cluster */
  volumeNames?(): string[];
}

export interface ExecutionContext {
  store: Awaited<ReturnType<typeof openStore>>;
  logger: Logger;
  /** this node's name (the host's) */
  node: string;
  platforms: Platform[];
  /** a version's root filesystem on this machine (local rootfs images and pulled OCI images) */
  resolveRootfs: (
    imageId: string,
    what: string,
  ) => Promise<string | import('../image/oci/image-rootfs.js').ImageRootfs | undefined>;
  /** sandboxes made and failed, pool and worker counts */
  metrics: Metrics;
  /** the values of the secrets a version names (embedded mode: from this store) */
  secrets: SecretSource;
  /** the volumes declared here, checked (their directories exist) */
  volumes: VolumeDecl[];
  /** where a node's kept sandboxes of a function go when one of its secrets changes (set by the execution) */
  onSecretChanged?: (fn: string) => Promise<void>;
}

export interface Control {
  url: string;
  store: Store;
  api: FastifyInstance;
  /** invocation events (the log, metrics and GET /v1/invocations/stream read them) */
  events: InvocationFeed;
  /** Stops everything; requests still open after the grace period are cut, and listed. */
  close(): Promise<CloseReport>;
}

export interface CloseReport {
  /** requests whose connections were cut when the grace period ran out (`METHOD URL (invocations …)`) */
  cut: string[];
  graceMs: number;
}

const DEFAULT_GRACE_MS = 10_000;

/**
 * Starts the API over the execution `makeExecution` builds. `shared`: other servers use the same
 * store (a cluster), so what looks unfinished may be theirs and is left alone at start.
 */
export async function startControl(
  o: ControlOptions,
  makeExecution: (ctx: ExecutionContext) => Promise<Execution>,
  parts: ControlParts = {},
): Promise<Control> {
  const logger = o.logger ?? roleLogger();
  // Checked before anything is made, so a bad setting leaves nothing behind.
  const callbackAllow = parseAllowList(o.callbackAllow ?? []);
  const subjectPrefix = subjectPrefixOf(o.subjectPrefix);
  const lambdaRegion = regionOf(o.lambdaRegion);
  const volumes = await checkVolumeDirs(o.volumes ?? []);
  await mkdir(o.home, { recursive: true, mode: 0o700 });
  const store = await openStore(o.store || join(o.home, 'agni.db'), { owner: o.instance });

  const unpack: UnpackLimits = {
    maxBytes: o.maxUnpackBytes ?? DEFAULT_LIMITS.unpack.maxBytes,
    maxFiles: o.maxUnpackFiles ?? DEFAULT_LIMITS.unpack.maxFiles,
  };
  const disk = new DiskGuard(o.home, o.minFree ?? DEFAULT_LIMITS.minFree);
  const metrics = new PromMetrics();
  // One JSON line per invocation event; the same events feed the metrics and `agni logs -f`.
  const feed = new InvocationFeed((err) => logger.error({ err }, 'invocation event listener failed'));
  logInvocations(feed, logger.child({ component: 'invocations' }));
  meterInvocations(feed, metrics);
  const oci = new OciImages(o.home, new SqlOciImageRepository(store.db), (msg) => logger.debug(msg), metrics);
  const ociRootfs = new ImageRootfsResolver(o.home, oci.content, unpack);
  const platforms = o.platforms ?? nodePlatforms();
  const publisher = parts.publisher?.(oci);
  // Cluster mode: an import goes to the registry too, so every server (and agent) can fetch it.
  const images = new LocalImages(
    store,
    o.home,
    unpack,
    oci,
    platforms[0],
    publisher ? (d, what) => publisher.shareImage(d, what) : undefined,
  );
  const node = hostname();
  const imageSource = new NodeImageSource(images, ociRootfs, platforms, node);
  const box = new SecretBox(o.home);
  let made: Execution | undefined;
  // Settles, jobs, live changes (and in a cluster invocation events) between servers and agents.
  const bus = o.bus ?? new InProcessEventBus(logger);
  // A secret set again: prewarmed sandboxes and warm workers holding the old value go, so the
  // next call's sandbox is made with the new one (docs/security.md); in a cluster the agents
  // (and other servers) hear it as a change of each function that names it.
  const secrets = new Secrets(
    new SqlSecretRepository(store.db),
    box,
    store,
    async (_name, usedBy) => {
      for (const fn of usedBy) {
        await made?.drain(fn, undefined);
        publishLiveChange(bus, fn, store.owner, logger);
      }
    },
    logger,
  );
  const exec = await makeExecution({
    store,
    logger,
    node,
    platforms,
    resolveRootfs: (id, what) => imageSource.resolve(id, what),
    metrics,
    secrets: (refs, what) => secrets.values(refs, what),
    volumes,
  }).catch(async (e) => {
    await store.close();
    throw e;
  });
  made = exec;
  // Sync calls left running by this server's last life (another live server's stay).
  const instance = new ServerInstance(store, { logger });
  const interrupted = await instance.start();
  if (exec.recovered || interrupted)
    logger.warn({ recovered: exec.recovered, interrupted }, 'cleaned up after an unclean stop');
  const dispatcher = exec.dispatcher;
  const functionAliases = new SqlFunctionAliasRepository(store.db);
  const resolver = new VersionResolver(store, functionAliases);
  const invoker = new Invoker(store, dispatcher, resolver, feed);
  const pipeline = new Pipeline(resolver, dispatcher, (d) => new Invoker(store, d, resolver, feed));
  const asyncRepo = new SqlAsyncRepo(store.db);
  // Payloads, outputs and job inputs: under $AGNI_HOME by key (async/..., jobs/...), or the cluster's bucket.
  const blobs = parts.blobs ?? new FileBlobStore(o.home);
  const volumeFiles = new VolumeFiles(volumes);
  const queue = new AsyncQueue({
    ...parts.asyncQueue,
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
    metrics,
    outputs: volumeFiles,
  });
  const callbacks = new CallbackSender(asyncRepo, store, queue, logger, callbackAllow);
  // Settles reach their listeners through the event bus, also across servers in a cluster.
  const settling = settlesOverBus({ queue, bus, logger, onCallbackDue: () => callbacks.kick() });
  const jobs = new JobRunner({
    blobs,
    repo: new SqlJobRepository(store.db),
    queue: settling.settles,
    store,
    resolver,
    maxPayloadBytes: o.maxPayloadBytes,
    logger,
    events: bus,
    metrics,
    refs: volumeFiles,
    outputs: volumeFiles,
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
      exec.cancelQueued?.(
        fn,
        new AgniError('function_not_found', `${fn} was removed while this call waited for a slot`, {
          hint: 'deploy it again with `agni deploy DIR`',
        }),
      );
    await exec.drain(fn, keep);
    await triggers.reconcile(fn);
    publishLiveChange(bus, fn, store.owner, logger);
  };
  // The same, for changes another server on this database made.
  const unfollow = followLiveChanges(
    bus,
    store.owner,
    async (fn) => {
      await exec.drain(fn, (await store.getLatestVersion(fn))?.version);
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
        exec.volumeNames?.() ?? volumes.map((d) => d.name),
        exec.volumeNames ? 'any node' : undefined,
      );
    },
    new OciRuntime(
      oci,
      ociRootfs,
      platforms,
      (canonical) => aliases.forCanonical(canonical),
      publisher ? (d, what) => publisher.fetchImage(d, what) : undefined,
    ),
    { limits: unpack, whenIdle: (fn) => exec.whenIdle?.(fn), ...(publisher ? { publisher } : {}) },
  );
  // Leftovers of uploads a previous process did not finish (a crash, a failed removal).
  const swept =
    (await deployer.sweep()) + (await removeChildren(join(o.home, 'build'))) + (await images.gc());
  if (swept) logger.warn({ swept }, 'removed staging directories left by the last run');
  // GET /v1/invocations/stream shows every server's invocations in a cluster; logs and metrics stay this server's.
  const shared = o.bus ? shareInvocations(feed, bus, store.owner, logger) : { feed, close: () => {} };
  const openRequests = new OpenRequests();
  metrics.watch({
    get nodes() {
      return exec.metricNodes?.() ?? [];
    },
    asyncBacklog: () => queue.backlog(),
  });
  const api = buildApi({
    benchDir: o.benchDir,
    sweeps: new SqlBenchSweepRepository(store.db),
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
    apiTokens: new ApiTokens(new SqlApiTokenRepository(store.db, store.changeStamp), o.token),
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
    ...(exec.nodes ? { nodes: exec.nodes } : {}),
    metrics,
    invocationEvents: shared.feed,
    info: () => ({ ...exec.info(), ...dispatcher.stats() }),
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
      await exec.stop();
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
      shared.close();
      if (!o.bus) await bus.close();
      await exec.close?.();
      await instance.stop();
      await store.close();
      return { cut, graceMs };
    })();
    return closing;
  };
  return { url: address, store, api, events: feed, close };
}
