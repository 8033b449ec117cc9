/**
 * Cluster mode's deploy step: a version's code becomes an OCI image pinned by digest in the
 * cluster registry, so every agent can fetch it on a miss (src/agent/code-fetcher.ts). The image
 * has one layer, the /fn tree written by `agni build`'s reproducible layer writer (sorted, fixed
 * mtimes and owners), and a config without dates or names, so the same files always give the same
 * digest, whichever function or server publishes them. A version on a registry image gets that
 * image pushed to the cluster registry too (its index when this server holds every platform of it).
 */
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AgniError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { removeTree } from '../image/extract-upload.js';
import { buildFunctionLayer } from '../image/oci/build-layer.js';
import { manifestDigestOf } from '../image/oci/image-rootfs.js';
import { MT } from '../image/oci/media-types.js';
import { oneLayerImage } from '../image/oci/one-layer-image.js';
import { pullImage } from '../image/oci/pull.js';
import type { OciImages } from '../image/oci/pull-service.js';
import { pushImage } from '../image/oci/push.js';
import { apiHost, parseReference } from '../image/oci/reference.js';
import { RegistryClient } from '../image/oci/registry-client.js';
import { pushRoot } from '../image/oci/stored-image.js';
import type { VersionCode } from '../store/store.js';

export interface CodePublisher {
  /** pushes the code (and the image) of a version about to be recorded; what to record as its `code` */
  publish(v: { function: string; codeDir: string; imageId: string }): Promise<VersionCode>;
  /** names the recorded version's code image `…/agni/fn/<name>:v<N>` too, for people browsing the registry */
  tag(fn: string, version: number, code: VersionCode): Promise<void>;
}

/** the config's platform: a function's files are the same bytes on every arch */
export const CODE_PLATFORM = { os: 'linux', architecture: 'any' } as const;
/** the repository every version image of the cluster goes to (blobs shared by all of them) */
export const IMAGES_REPOSITORY = 'agni/images';

export function codeRepository(fn: string): string {
  return `agni/fn/${fn}`;
}

export interface RegistryCodePublisherOptions {
  /** the cluster registry, host[:port] (`agni server --registry`) */
  registry: string;
  /** http instead of https (loopback hosts are http anyway, see RegistryClient) */
  insecure?: boolean;
  /** the server's content store and image records: the images versions name */
  oci: OciImages;
  /** $AGNI_HOME: the layer is written under build/ while it is made */
  home: string;
  logger: Logger;
}

export class RegistryCodePublisher implements CodePublisher {
  constructor(private readonly o: RegistryCodePublisherOptions) {
    if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(o.registry) && !/^\[[0-9a-fA-F:]+\](:\d+)?$/.test(o.registry)) {
      throw new AgniError(
        'bad_request',
        `--registry "${o.registry}": expected host[:port], e.g. 10.0.0.5:5000`,
      );
    }
  }

  private async client(repository: string): Promise<RegistryClient> {
    const ref = parseReference(`${this.o.registry}/${repository}:x`);
    return new RegistryClient({
      host: apiHost(ref),
      registry: ref.registry,
      insecure: this.o.insecure ?? false,
      credentials: await this.o.oci.credentials.get(ref.registry),
    });
  }

  publish(v: { function: string; codeDir: string; imageId: string }): Promise<VersionCode> {
    // Checked before anything is pushed: a version that cannot be recorded leaves nothing behind.
    const digest = v.imageId === 'host' ? undefined : imageDigest(v.imageId, v.function);
    // Under the GC gate: a prune must not take the blobs between their writing and their push.
    return this.o.oci.gate.shared(async () => {
      const ref = await this.publishCode(v.function, v.codeDir);
      if (!digest) return { ref };
      return { ref, image: await this.publishImage(digest, v.function) };
    });
  }

  private async publishCode(fn: string, codeDir: string): Promise<string> {
    const scratch = join(this.o.home, 'build', newId('pub'));
    await mkdir(scratch, { recursive: true });
    try {
      const file = join(scratch, 'fn.tar.gz');
      const layer = await buildFunctionLayer(codeDir, file);
      const content = this.o.oci.content;
      await content.ingest(layer.digest, layer.size, async () => ({
        body: createReadStream(file),
        offset: 0,
      }));
      const img = oneLayerImage(layer, {
        platform: CODE_PLATFORM,
        created: '1970-01-01T00:00:00Z',
        createdBy: 'agni deploy',
        process: { WorkingDir: '/fn' },
      });
      await content.putBytes(img.config, img.configDigest);
      await content.putBytes(img.manifest, img.manifestDigest);
      const repository = codeRepository(fn);
      const target = `${this.o.registry}/${repository}@${img.manifestDigest}`;
      await this.push(repository, img.manifestDigest, target, `code of ${fn}`);
      return target;
    } finally {
      await removeTree(scratch).catch(() => undefined);
    }
  }

  private async publishImage(digest: string, fn: string): Promise<string> {
    const record = (await this.o.oci.repo.list()).find((r) => r.manifestDigest === digest);
    const root = record ? await pushRoot(this.o.oci.content, record) : digest;
    const target = `${this.o.registry}/${IMAGES_REPOSITORY}@${root}`;
    // Pushed at every deploy (blobs the registry has are only asked about): a registry reset
    // since the last deploy must not leave a version naming an image nobody can fetch.
    await this.push(IMAGES_REPOSITORY, root, target, `image of ${fn}`);
    return target;
  }

  private async push(repository: string, digest: string, target: string, what: string): Promise<void> {
    const log = this.o.logger.child({ registry: this.o.registry, ref: target });
    log.debug(`pushing the ${what}`);
    try {
      const r = await pushImage(
        await this.client(repository),
        this.o.oci.content,
        digest,
        parseReference(target),
      );
      log.debug({ blobsPushed: r.blobsPushed, blobsSkipped: r.blobsSkipped }, `pushed the ${what}`);
    } catch (e) {
      log.debug({ err: (e as Error).message }, `pushing the ${what} failed`);
      const why = e instanceof AgniError ? e.message : (e as Error).message;
      // A network failure is the registry's unavailability; an answered error keeps its own code.
      const code = e instanceof AgniError ? e.code : 'registry_error';
      throw new AgniError(code, `could not push the ${what} to ${target}: ${why}`, {
        hint: `check that the cluster registry ${this.o.registry} is up and reachable from this server (agni server --registry)`,
        ...(e instanceof AgniError && e.details ? { details: e.details } : {}),
        cause: e,
      });
    }
  }

  /**
   * An image this server made (`agni image import`) pushed to the cluster registry by digest, so
   * the other servers, which share its record but not this content store, can fetch it (fetchImage).
   */
  shareImage(manifestDigest: string, what: string): Promise<void> {
    const target = `${this.o.registry}/${IMAGES_REPOSITORY}@${manifestDigest}`;
    return this.o.oci.gate.shared(() => this.push(IMAGES_REPOSITORY, manifestDigest, target, what));
  }

  /** An image recorded by another server, fetched by digest from the cluster registry into this content store. */
  fetchImage(manifestDigest: string, what: string): Promise<void> {
    const target = `${this.o.registry}/${IMAGES_REPOSITORY}@${manifestDigest}`;
    const log = this.o.logger.child({ registry: this.o.registry, ref: target });
    return this.o.oci.gate.shared(async () => {
      log.debug(`fetching the ${what}`);
      try {
        await pullImage(await this.client(IMAGES_REPOSITORY), this.o.oci.content, parseReference(target));
        log.debug(`fetched the ${what}`);
      } catch (e) {
        log.debug({ err: (e as Error).message }, `fetching the ${what} failed`);
        const why = (e as Error).message;
        throw new AgniError(
          e instanceof AgniError ? e.code : 'registry_error',
          `${what}: not on this server, and fetching ${target} failed: ${why}`,
          {
            hint: 'import it again on this server (`agni image import NAME ROOTFS`), or check the cluster registry',
            cause: e,
          },
        );
      }
    });
  }

  async tag(fn: string, version: number, code: VersionCode): Promise<void> {
    const repository = codeRepository(fn);
    const digest = parseReference(code.ref).digest;
    const log = this.o.logger.child({ registry: this.o.registry, ref: code.ref, tag: `v${version}` });
    if (!digest) return;
    try {
      log.debug('tagging the code image');
      const bytes = await this.o.oci.content.read(digest);
      await (await this.client(repository)).putManifest(repository, `v${version}`, bytes, MT.ociManifest);
      log.debug('tagged the code image');
    } catch (e) {
      // The version is pinned by digest; the tag only helps people browsing the registry.
      log.warn({ err: (e as Error).message }, 'tagging the code image failed');
    }
  }
}

/** the manifest digest of an `oci:` image id; anything else is a pre-OCI rootfs no other node can fetch */
function imageDigest(imageId: string, fn: string): string {
  const digest = manifestDigestOf(imageId);
  if (digest) return digest;
  throw new AgniError(
    'manifest_invalid',
    `agni.yaml: field \`runtime\`: function ${fn}'s image (${imageId}) is a root filesystem imported before images were OCI images; cluster nodes cannot fetch it`,
    {
      hint: 'import the root filesystem again (`agni image import NAME ROOTFS`): it becomes an OCI image every node can pull',
      details: { file: 'agni.yaml', field: 'runtime' },
    },
  );
}
