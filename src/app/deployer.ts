/**
 * Deploy: the CLI uploads the function's directory as a tar stream; the server unpacks it into
 * a fresh directory that no later deploy touches, validates agni.yaml, and records a version.
 */
import { chmod, mkdir, readdir, readFile, rename, rmdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { AgniError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { DEFAULT_LIMITS, type UnpackLimits } from '../core/limits.js';
import { type Manifest, NAME_RE, parseManifest, withLambdaBootstrap } from '../core/manifest.js';
import { extractUpload, removeChildren, removeTree } from '../image/extract-upload.js';
import { type ImageConfig, type ImageFiles, resolveArgs } from '../image/oci/image-config.js';
import type { Store, VersionRecord } from '../store/store.js';
import type { CodePublisher } from './code-publisher.js';
import { walkTree } from './fs-util.js';
import type { OciRuntime } from './oci-runtime.js';
import { checkRuntimeFit } from './runtime-checks.js';

/** told when a function's live version changes, so sandboxes kept for old versions are dropped */
export type VersionChange = (fn: string, keep: number | undefined) => Promise<void>;

/** checks a manifest against the other functions (e.g. a webhook path already taken); throws to refuse */
export type DeployCheck = (manifest: Manifest) => Promise<void>;

export interface DeployerOptions {
  /** what one deploy may unpack to (`agni up --max-unpack`, `--max-files`) */
  limits?: UnpackLimits;
  /**
   * undefined when no call of the function runs, else resolves when the last one ended. A removed
   * function's running calls finish on their code; the code goes once they did.
   */
  whenIdle?: (fn: string) => Promise<void> | undefined;
  /**
   * cluster mode (`agni server --registry`): every version's code (and image) goes to the cluster
   * registry, pinned by digest, before the version is recorded; embedded mode has none
   */
  publisher?: CodePublisher;
}

export class Deployer {
  constructor(
    private readonly store: Store,
    private readonly home: string,
    private readonly onChange: VersionChange = async () => undefined,
    private readonly check: DeployCheck = async () => undefined,
    /** registry images as `runtime:`; without it only host and local images deploy */
    private readonly oci?: OciRuntime,
    private readonly opts: DeployerOptions = {},
  ) {}

  private get root(): string {
    return join(this.home, 'functions');
  }

  /**
   * `o.runtime` replaces agni.yaml's `runtime` (what `agni deploy --build` just built); `o.allow`
   * throws when the caller may not deploy the function agni.yaml names (a token limited to functions).
   */
  async deploy(
    upload: Readable,
    o: { runtime?: string; allow?: (name: string) => void } = {},
  ): Promise<VersionRecord> {
    const staging = join(this.root, '.staging', newId('dep'));
    await mkdir(staging, { recursive: true });
    try {
      await extractUpload(upload, staging, {
        limits: this.opts.limits ?? DEFAULT_LIMITS.unpack,
        what: 'the uploaded function',
        preserveOwner: false,
      });
      let text: string;
      try {
        text = await readFile(join(staging, 'agni.yaml'), 'utf8');
      } catch {
        throw new AgniError('manifest_invalid', 'agni.yaml: not found at the top of the uploaded directory', {
          hint: 'run `agni deploy DIR` on a directory that contains agni.yaml',
        });
      }
      const parsed = parseManifest(text, 'agni.yaml');
      o.allow?.(parsed.name);
      const named = o.runtime ? { ...parsed, runtime: o.runtime } : parsed;
      await this.check(named);
      const { imageId, config, files } = await this.resolveRuntime(named.runtime);
      const manifest = withLambdaBootstrap(named, Boolean(config?.Entrypoint?.length || config?.Cmd?.length));
      // Names `command` when neither agni.yaml nor the image's config says what to run.
      resolveArgs(config, manifest);
      await checkRuntimeFit(manifest, imageId, staging, {
        home: this.home,
        store: this.store,
        ...(files ? { imageFiles: files } : {}),
      });
      // The sandbox runs as nobody: everything must be readable, and executables executable.
      await walkTree(staging, async (p, isDir, mode) => {
        const want = isDir ? mode | 0o555 : mode | 0o444 | (mode & 0o100 ? 0o111 : 0);
        if ((want & 0o7777) !== (mode & 0o7777)) await chmod(p, want & 0o777);
      });
      await chmod(staging, 0o755);
      const codeDir = join(this.root, manifest.name, newId('v'));
      await mkdir(join(this.root, manifest.name), { recursive: true });
      await rename(staging, codeDir);
      try {
        const publisher = this.opts.publisher;
        const code = publisher
          ? await publisher.publish({ function: manifest.name, codeDir, imageId })
          : undefined;
        const v = await this.store.addVersion({
          function: manifest.name,
          manifest,
          codeDir,
          imageId,
          ...(code ? { code } : {}),
        });
        if (publisher && code) await publisher.tag(v.function, v.version, code);
        await this.onChange(v.function, v.version);
        return v;
      } catch (e) {
        await removeTree(codeDir);
        throw e;
      }
    } catch (e) {
      if (e instanceof AgniError) throw e;
      throw new AgniError('bad_request', `could not unpack the uploaded function: ${(e as Error).message}`, {
        cause: e,
      });
    } finally {
      // A staging dir that cannot be removed now is swept at the next start; never a 500 here.
      await removeTree(staging).catch(() => undefined);
    }
  }

  private async resolveRuntime(
    runtime: string,
  ): Promise<{ imageId: string; config?: ImageConfig; files?: ImageFiles }> {
    if (runtime === 'host') return { imageId: 'host' };
    const img = NAME_RE.test(runtime) ? await this.store.getImage(runtime) : undefined;
    if (img) return { imageId: img.id };
    if (this.oci && !NAME_RE.test(runtime)) return this.oci.resolve(runtime);
    if (this.oci) {
      // A bare name is a local image or a Docker Hub one: when neither is there, say both.
      try {
        return await this.oci.resolve(runtime);
      } catch (e) {
        if (!(e instanceof AgniError)) throw e;
        throw new AgniError(
          'image_not_found',
          `agni.yaml: field \`runtime\`: no local image named ${runtime}, and pulling it failed: ${e.message.replace(/^agni\.yaml: field `runtime` /, '')}`,
          {
            hint: `import a root filesystem with \`agni image import ${runtime} ROOTFS\`, or give a full registry reference (host/repository:tag)`,
            details: { file: 'agni.yaml', field: 'runtime' },
            cause: e,
          },
        );
      }
    }
    throw new AgniError('image_not_found', `agni.yaml: field \`runtime\`: no local image named ${runtime}`, {
      hint: `use runtime: host, or import a root filesystem first: agni image import ${runtime} ROOTFS.tar|DIR`,
      details: { file: 'agni.yaml', field: 'runtime' },
    });
  }

  async remove(name: string): Promise<VersionRecord[]> {
    if (!NAME_RE.test(name)) throw new AgniError('bad_request', `not a valid function name: ${name}`);
    const removed = await this.store.removeFunction(name);
    if (removed.length === 0) {
      throw new AgniError('function_not_found', `no function named ${name}`, {
        hint: 'list functions with `agni ls`',
      });
    }
    await this.onChange(name, undefined);
    const drop = async () => {
      for (const v of removed) await removeTree(v.codeDir);
      // A deploy of the same name since has its own version dir here: then the dir stays.
      await rmdir(join(this.root, name)).catch(() => undefined);
    };
    const running = this.opts.whenIdle?.(name);
    if (running) void running.then(drop).catch(() => undefined);
    else await drop();
    return removed;
  }

  /**
   * Removes one version that is neither live nor named by an alias (those are refused, naming what
   * points to it). Its code goes once no call of the function runs any more.
   */
  async removeVersion(name: string, version: number): Promise<VersionRecord> {
    if (!NAME_RE.test(name)) throw new AgniError('bad_request', `not a valid function name: ${name}`);
    const r = await this.store.removeVersion(name, version);
    if (!r) {
      const fn = await this.store.getLatestVersion(name);
      throw fn
        ? new AgniError('version_not_found', `${name} has no version ${version}`, {
            hint: `list its versions with \`agni versions ${name}\``,
          })
        : new AgniError('function_not_found', `no function named ${name}`, {
            hint: 'list functions with `agni ls`',
          });
    }
    if ('live' in r)
      throw new AgniError('conflict', `version ${version} of ${name} is live and cannot be removed`, {
        hint: `make another version live first (\`agni rollback ${name} --to N\`), or remove the whole function with \`agni rm ${name}\``,
      });
    if ('aliases' in r)
      throw new AgniError(
        'conflict',
        `version ${version} of ${name} is named by alias${r.aliases.length === 1 ? '' : 'es'} ${r.aliases.join(', ')}`,
        {
          hint: `point ${r.aliases.length === 1 ? 'it' : 'them'} elsewhere first (\`agni alias set ${name} ${r.aliases[0]} N\`) or remove ${r.aliases.length === 1 ? 'it' : 'them'} (\`agni alias rm ${name} ${r.aliases[0]}\`)`,
          details: { aliases: r.aliases },
        },
      );
    if ('jobs' in r)
      throw new AgniError(
        'conflict',
        `version ${version} of ${name} is what unfinished job${r.jobs.length === 1 ? '' : 's'} ${r.jobs.join(', ')} run${r.jobs.length === 1 ? 's' : ''}`,
        {
          hint: `wait for ${r.jobs.length === 1 ? 'it' : 'them'} to finish (\`agni jobs show ${r.jobs[0]}\`), or remove ${r.jobs.length === 1 ? 'it' : 'them'} if never started (\`agni jobs rm ${r.jobs[0]}\`)`,
          details: { jobs: r.jobs },
        },
      );
    const live = await this.store.getLatestVersion(name);
    await this.onChange(name, live?.version);
    const drop = () => removeTree(r.removed.codeDir);
    const running = this.opts.whenIdle?.(name);
    if (running) void running.then(drop).catch(() => undefined);
    else await drop();
    return r.removed;
  }

  /**
   * At start, before the API listens: removes staging dirs an earlier process left (a crash or a
   * failed removal mid-deploy) and code dirs no stored version points to (a removal whose running
   * calls never ended because the process stopped). Returns how many it removed.
   */
  async sweep(): Promise<number> {
    let n = await removeChildren(join(this.root, '.staging'));
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (name === '.staging') continue;
      // By the version dir's own name: a home moved to another path must not lose its code.
      const keep = new Set((await this.store.listVersions(name)).map((v) => basename(v.codeDir)));
      for (const d of await readdir(join(this.root, name)).catch(() => [] as string[])) {
        if (keep.has(d)) continue;
        await removeTree(join(this.root, name, d));
        n++;
      }
      if (keep.size === 0) await rmdir(join(this.root, name)).catch(() => undefined);
    }
    return n;
  }
}
