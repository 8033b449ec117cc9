/**
 * The server side of `agni image pull/push` and `agni login`: turns reference strings into
 * registry clients with the right host, scheme and stored credentials, and keeps image records.
 */
import { AgniError } from '../../core/errors.js';
import type { Metrics } from '../../core/metrics.js';
import type { OciImageRecord, OciImageRepository } from '../../store/oci-image-repo.js';
import { CredentialStore, type Credentials } from './auth.js';
import { ContentStore } from './content-store.js';
import { GcGate } from './gc-gate.js';
import { imageRecord } from './image-record.js';
import type { Platform } from './media-types.js';
import { parsePlatform, platformRuns } from './platform.js';
import { type PullEvent, pullImage } from './pull.js';
import { type PushEvent, type PushResult, pushImage } from './push.js';
import { apiHost, DOCKER_HUB, formatReference, type ImageReference, parseReference } from './reference.js';
import { RegistryClient } from './registry-client.js';
import { pushRoot, storedByDigest } from './stored-image.js';

export class OciImages {
  readonly content: ContentStore;
  readonly credentials: CredentialStore;
  /** pulls hold it shared; `agni image rm` and `prune` exclusively, so no pull loses blobs it just wrote */
  readonly gate = new GcGate();

  constructor(
    home: string,
    readonly repo: OciImageRepository,
    debug: (msg: string) => void = () => {},
    /** pulls from registries (ok or failed) and the bytes they fetched are counted here */
    private readonly metrics?: Pick<Metrics, 'imagePulled'>,
  ) {
    this.content = new ContentStore(home);
    this.credentials = new CredentialStore(home, undefined, debug);
  }

  private async client(ref: ImageReference, insecure: boolean): Promise<RegistryClient> {
    return new RegistryClient({
      host: apiHost(ref),
      registry: ref.registry,
      insecure,
      credentials: await this.credentials.get(ref.registry),
    });
  }

  pull(
    refText: string,
    o: { platform?: string; insecure?: boolean; onEvent?: (e: PullEvent) => void } = {},
  ): Promise<OciImageRecord> {
    return this.gate.shared(() => this.pullNow(refText, o));
  }

  private async pullNow(
    refText: string,
    o: { platform?: string; insecure?: boolean; onEvent?: (e: PullEvent) => void },
  ): Promise<OciImageRecord> {
    const ref = parseReference(refText);
    const platform = o.platform ? parsePlatform(o.platform) : undefined;
    const img = await this.counted(o.onEvent, async (onEvent) =>
      pullImage(await this.client(ref, o.insecure ?? false), this.content, ref, { platform, onEvent }),
    );
    const record = imageRecord(img.reference, img);
    await this.repo.put(record);
    return record;
  }

  /**
   * The image `refText` for a node that runs `runsOn` (best first): the stored record when it
   * fits one of them, else pulled (an index gives its best fit). Tags are not re-resolved when a
   * fitting record exists: `agni image pull` updates one.
   */
  ensure(
    refText: string,
    runsOn: Platform[],
    o: { insecure?: boolean; onEvent?: (e: PullEvent) => void } = {},
  ): Promise<OciImageRecord> {
    return this.gate.shared(() => this.ensureNow(refText, runsOn, o));
  }

  private async ensureNow(
    refText: string,
    runsOn: Platform[],
    o: { insecure?: boolean; onEvent?: (e: PullEvent) => void },
  ): Promise<OciImageRecord> {
    // A digest names its content: when the store has all of it, no registry is asked.
    const stored = await storedByDigest(this.content, parseReference(refText), runsOn);
    if (stored) return stored;
    const name = formatReference(parseReference(refText));
    const have = await this.repo.get(name);
    if (have && runsOn.some((p) => platformRuns(parsePlatform(have.platform), p))) {
      if (await this.complete(have)) return have;
    }
    const ref = parseReference(refText);
    const img = await this.counted(o.onEvent, async (onEvent) =>
      pullImage(await this.client(ref, o.insecure ?? false), this.content, ref, { runsOn, onEvent }),
    );
    const record = imageRecord(img.reference, img);
    await this.repo.put(record);
    return record;
  }

  /** one registry pull, counted with the bytes its blobs fetched (what the store had, or a resumed blob had, is not) */
  private async counted<T>(
    onEvent: ((e: PullEvent) => void) | undefined,
    pull: (onEvent: (e: PullEvent) => void) => Promise<T>,
  ): Promise<T> {
    let bytes = 0;
    try {
      const out = await pull((e) => {
        if (e.type === 'blob-done') bytes += e.fetched;
        onEvent?.(e);
      });
      this.metrics?.imagePulled('ok', bytes);
      return out;
    } catch (err) {
      this.metrics?.imagePulled('failed', bytes);
      throw err;
    }
  }

  /** every blob of the record is in the content store (a prune may have raced a removal) */
  private async complete(r: OciImageRecord): Promise<boolean> {
    for (const d of [r.manifestDigest, r.configDigest, ...r.layers.map((l) => l.digest)]) {
      if (!(await this.content.has(d))) return false;
    }
    return true;
  }

  /** Pushes the stored image `name` (a reference it was pulled as) to `target`. */
  async push(
    name: string,
    target: string,
    o: { insecure?: boolean; onEvent?: (e: PushEvent) => void } = {},
  ): Promise<PushResult> {
    const rec = (await this.repo.get(name)) ?? (await this.repo.get(formatReference(parseReference(name))));
    if (!rec) {
      throw new AgniError('image_not_found', `no pulled image "${name}"`, {
        hint: 'list them with `agni image ls`, or pull it first with `agni image pull`',
      });
    }
    const ref = parseReference(target);
    return pushImage(
      await this.client(ref, o.insecure ?? false),
      this.content,
      await pushRoot(this.content, rec, ref.digest),
      ref,
      o.onEvent,
    );
  }

  /** Checks the credentials with GET /v2/ before keeping them. */
  async login(registry: string, c: Credentials, insecure = false): Promise<string> {
    const name = normaliseRegistry(registry);
    const ref = parseReference(`${name}/x/y:z`);
    await new RegistryClient({ host: apiHost(ref), registry: ref.registry, insecure, credentials: c }).ping();
    await this.credentials.set(ref.registry, c);
    return ref.registry;
  }

  async logout(registry: string): Promise<boolean> {
    return this.credentials.remove(parseReference(`${normaliseRegistry(registry)}/x/y:z`).registry);
  }

  /**
   * Forgets the record `name` only. `agni image rm` (src/image/image-insight.ts) first checks that
   * no function version uses the image, then frees the blobs nothing else needs, under the gate.
   */
  async remove(name: string): Promise<void> {
    if (!(await this.repo.remove(name))) throw new AgniError('image_not_found', `no pulled image "${name}"`);
  }
}

function normaliseRegistry(registry: string): string {
  const r = registry.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!r) throw new AgniError('bad_request', `registry "${registry}": expected a host[:port], e.g. ghcr.io`);
  return r === 'index.docker.io' ? DOCKER_HUB : r;
}
