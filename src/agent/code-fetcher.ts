/**
 * An agent's side of code distribution in cluster mode: before a call runs, the version's code
 * image (a one-layer /fn image pinned by digest, src/app/code-publisher.ts) and its image are made
 * local, pulled from the cluster registry on a miss only. The code layer is unpacked once per
 * digest under this agent's home (by the same bounded, atomic unpack as image layers), and the
 * request goes on naming that directory and this node's manifest of the image, so the agent runs
 * it as if it had been deployed here. A digest names its content: what the content store holds
 * under it is used without asking the registry again, across restarts too.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AgniError } from '../core/errors.js';
import type { UnpackLimits } from '../core/limits.js';
import type { DispatchRequest } from '../dispatch/dispatch-request.js';
import { CredentialStore } from '../image/oci/auth.js';
import { FN_PREFIX } from '../image/oci/build-layer.js';
import type { ContentStore } from '../image/oci/content-store.js';
import { ociImageId } from '../image/oci/image-rootfs.js';
import { type ImageManifest, type Platform, parseManifest } from '../image/oci/media-types.js';
import { pullImage } from '../image/oci/pull.js';
import { apiHost, type ImageReference, parseReference } from '../image/oci/reference.js';
import { RegistryClient } from '../image/oci/registry-client.js';
import { storedByDigest } from '../image/oci/stored-image.js';
import { ensureLayer } from '../image/oci/unpack.js';
import type { VersionRecord } from '../store/store.js';

export interface CodeFetcherOptions {
  /** the agent's home: code layers are unpacked under content/layers/ there */
  home: string;
  /** the agent's content store, the one its ImageRootfsResolver reads */
  content: ContentStore;
  /** what this node runs, best first: an image index gives the first it offers */
  platforms: Platform[];
  /**
   * the cluster registry as this node reaches it (`agni agent --registry`), host[:port]: replaces
   * the host in the references the server recorded (the same registry seen from another network;
   * the digest still pins the bytes). Unset: the recorded host.
   */
  registry?: string;
  /** http instead of https for the registry (loopback hosts are http anyway) */
  insecure?: boolean;
  /** registry credentials (default: $home/auth.json, then ~/.docker/config.json) */
  credentials?: CredentialStore;
  /** what one layer may unpack to (`agni agent --max-unpack`, `--max-files`) */
  limits?: UnpackLimits;
  logger: Logger;
}

export class CodeFetcher {
  /** code ref → its local /fn directory; concurrent first calls share one fetch */
  private readonly code = new Map<string, Promise<string>>();
  /** image ref → the image id (`oci:<this node's manifest digest>`) */
  private readonly images = new Map<string, Promise<string>>();
  private readonly credentials: CredentialStore;

  constructor(private readonly o: CodeFetcherOptions) {
    this.credentials = o.credentials ?? new CredentialStore(o.home, undefined, (m) => o.logger.debug(m));
    this.prepare = this.prepare.bind(this);
  }

  /** The request with its version's code dir and image made local; a version without `code` passes. */
  async prepare(request: DispatchRequest): Promise<DispatchRequest> {
    const v = request.version;
    if (!v.code) return request;
    const [codeDir, imageId] = await Promise.all([
      this.once(this.code, v.code.ref, () => this.fetchCode(v.code!.ref, v)),
      v.code.image
        ? this.once(this.images, v.code.image, () => this.fetchImage(v.code!.image!, v))
        : v.imageId,
    ]);
    return { ...request, version: { ...v, codeDir, imageId } };
  }

  private once(map: Map<string, Promise<string>>, key: string, make: () => Promise<string>): Promise<string> {
    const have = map.get(key);
    if (have) return have;
    const p = make();
    map.set(key, p);
    // A failure is not kept: the next call tries again (the registry may be back).
    p.catch(() => map.delete(key));
    return p;
  }

  private pinned(refText: string, what: string): ImageReference & { digest: string } {
    const ref = parseReference(refText);
    if (!ref.digest) {
      throw new AgniError('bad_request', `${what}: not pinned by digest (expected REGISTRY/REPO@sha256:…)`);
    }
    return { ...ref, registry: this.o.registry ?? ref.registry, digest: ref.digest };
  }

  private async client(ref: ImageReference): Promise<RegistryClient> {
    return new RegistryClient({
      host: apiHost(ref),
      registry: ref.registry,
      insecure: this.o.insecure ?? false,
      credentials: await this.credentials.get(ref.registry),
    });
  }

  private async fetchCode(refText: string, v: VersionRecord): Promise<string> {
    const what = `code image ${refText} of ${v.function}@${v.version}`;
    const log = this.o.logger.child({ ref: refText, function: v.function, version: v.version });
    try {
      const ref = this.pinned(refText, what);
      let manifest = await this.storedManifest(ref.digest);
      if (!manifest) {
        log.debug('pulling the code image');
        const pulled = await pullImage(await this.client(ref), this.o.content, ref);
        log.debug({ digest: pulled.manifestDigest }, 'pulled the code image');
        manifest = await this.storedManifest(ref.digest);
        if (!manifest) throw new AgniError('registry_error', 'the pulled image is incomplete');
      }
      if (manifest.layers.length !== 1) {
        throw new AgniError(
          'manifest_invalid',
          `expected one layer (the /fn tree), found ${manifest.layers.length}`,
        );
      }
      const layer = manifest.layers[0]!;
      const dir = await ensureLayer(
        this.o.home,
        layer.digest,
        this.o.content.path(layer.digest),
        layer.mediaType,
        this.o.limits,
      );
      const codeDir = join(dir, FN_PREFIX);
      if (
        !(await stat(codeDir).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      ) {
        throw new AgniError('layer_invalid', `its layer ${layer.digest} has no ${FN_PREFIX}/ directory`);
      }
      return codeDir;
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'fetching the code image failed');
      throw named(e, what);
    }
  }

  /** the manifest under `digest` when the content store holds it with its config and layers */
  private async storedManifest(digest: string): Promise<ImageManifest | undefined> {
    const c = this.o.content;
    if (!(await c.has(digest))) return undefined;
    const p = parseManifest(await c.read(digest), undefined, `manifest ${digest}`);
    if (p.kind !== 'manifest')
      throw new AgniError('manifest_invalid', `${digest} is an index, not a code image`);
    for (const d of [p.manifest.config, ...p.manifest.layers]) if (!(await c.has(d.digest))) return undefined;
    return p.manifest;
  }

  private async fetchImage(refText: string, v: VersionRecord): Promise<string> {
    const what = `image ${refText} of ${v.function}@${v.version}`;
    const log = this.o.logger.child({ ref: refText, function: v.function, version: v.version });
    try {
      const ref = this.pinned(refText, what);
      const stored = await storedByDigest(this.o.content, ref, this.o.platforms);
      if (stored) return ociImageId(stored.manifestDigest);
      log.debug('pulling the image');
      const pulled = await pullImage(await this.client(ref), this.o.content, ref, {
        runsOn: this.o.platforms,
      });
      log.debug({ digest: pulled.manifestDigest, platform: pulled.platform }, 'pulled the image');
      return ociImageId(pulled.manifestDigest);
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'fetching the image failed');
      throw named(e, what);
    }
  }
}

/** the error with the reference it was about in front, its code and hint kept */
function named(e: unknown, what: string): AgniError {
  const msg = (e as Error).message;
  if (e instanceof AgniError) {
    return new AgniError(e.code, msg.includes(what) ? msg : `${what}: ${msg}`, {
      hint: e.hint ?? 'redeploy the function so the server publishes it to the cluster registry again',
      ...(e.details ? { details: e.details } : {}),
      cause: e,
    });
  }
  return new AgniError('registry_error', `${what}: ${msg}`, {
    hint: 'check that the cluster registry is up and reachable from this node (agni agent --registry)',
    cause: e,
  });
}
