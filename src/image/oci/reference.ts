/**
 * Image references parsed the way Docker does: an optional registry host (a first component with
 * a dot, a colon or `localhost`), a repository path, then `:tag` and/or `@digest`. Docker Hub
 * names are normalised to registry-1.docker.io with the `library/` prefix for official images.
 */
import { AgniError } from '../../core/errors.js';

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageReference {
  /** registry host[:port] as written (docker.io for Docker Hub) */
  registry: string;
  /** repository path, e.g. library/busybox */
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;

function bad(ref: string, why: string): AgniError {
  return new AgniError('bad_request', `image reference "${ref}": ${why}`, {
    hint: 'write it like busybox, library/busybox:1.36, 127.0.0.1:5000/team/fn:v1 or ghcr.io/o/r@sha256:<64 hex>',
  });
}

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

export function parseReference(ref: string): ImageReference {
  if (ref.length === 0) throw bad(ref, 'empty');
  if (ref.length > 4096) throw bad(`${ref.slice(0, 40)}…`, 'too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, `digest "${digest}" is not sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `tag "${tag}" is not valid (letters, digits, _ . -, at most 128)`);
  }
  if (rest.length === 0) throw bad(ref, 'no repository name');
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))
  ) {
    if (!HOST.test(first)) throw bad(ref, `registry host "${first}" is not valid`);
    registry = first;
    rest = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  for (const c of rest.split('/')) {
    if (!COMPONENT.test(c)) {
      throw bad(
        ref,
        `repository component "${c}" must be lowercase letters, digits and separators (. _ __ -)`,
      );
    }
  }
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  if (rest.length > 255) throw bad(ref, 'repository name longer than 255 characters');
  return { registry, repository: rest, tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** The host the API is reached at: Docker Hub's API lives on another name than its references. */
export function apiHost(r: ImageReference): string {
  return r.registry === DOCKER_HUB ? DOCKER_HUB_API : r.registry;
}

/** Canonical text: registry/repository[:tag][@digest]. */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** What to ask the manifests endpoint for: the digest wins over the tag, as in Docker. */
export function manifestSelector(r: ImageReference): string {
  return r.digest ?? r.tag ?? 'latest';
}

/** Loopback registries are spoken to over plain http; every other one over https unless insecure. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(h);
}

/** Registry names in credentials files: docker.io is also written as its legacy index URL. */
export function registryKeys(registry: string): string[] {
  if (registry === DOCKER_HUB || registry === DOCKER_HUB_API) {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', DOCKER_HUB_API];
  }
  return [registry, `https://${registry}`, `http://${registry}`];
}
