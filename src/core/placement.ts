/**
 * Where a call runs in a cluster, as a pure rule over what the nodes said in their last heartbeat.
 * A node is eligible when it is ready (not draining, not lost), has a backend that can run the
 * version, a platform its image runs on (any platform for the host runtime, which runs the
 * node's own programs) and every label `placement:` asks for. Among eligible nodes: one holding a
 * warm worker or prewarmed sandbox of that exact version first, then one that runs it natively
 * rather than under emulation, then the least loaded.
 */
import { parsePlatform, platformRuns } from '../image/oci/platform.js';
import { AgniError } from './errors.js';

/** agni.yaml `placement:` */
export interface PlacementSpec {
  /** os/arch[/variant]: run only as one of these */
  platforms?: string[];
  /** node labels that must all match */
  labels?: Record<string, string>;
}

/** A node as placement sees it (a NodeHeartbeat fits), with this server's own view of its load. */
export interface CandidateNode {
  node: string;
  /** native first, then emulated */
  platforms: readonly string[];
  backends: readonly string[];
  slots: number;
  running: number;
  queued: number;
  labels: Readonly<Record<string, string>>;
  /** "fn@version" held warm or prewarmed */
  warm: readonly string[];
  /** names of the volumes declared on the node (absent: none) */
  volumes?: readonly string[];
  state: 'ready' | 'draining' | 'lost';
  /** calls this server has running there */
  inflight: number;
  /**
   * how many of those were already running when the heartbeat was taken, so are in its `running`
   * (absent: 0, i.e. the heartbeat is taken to show only other servers' calls)
   */
  inflightAtHeartbeat?: number;
}

/** What one call needs of a node. */
export interface PlacementNeed {
  /** "fn@version", as in a heartbeat's `warm` */
  key: string;
  /** the platforms the version's image has (an index may have several); undefined: host runtime */
  imagePlatforms?: readonly string[];
  /** backends that can run it; undefined: any */
  backends?: readonly string[];
  placement?: PlacementSpec;
  /** volumes (agni.yaml `volumes:` names) the node must have, every one */
  volumes?: readonly string[];
}

/** calls on the node: what the heartbeat shows, with this server's calls since then */
export function usedSlots(c: CandidateNode): number {
  const others = Math.max(0, c.running + c.queued - (c.inflightAtHeartbeat ?? 0));
  return others + c.inflight;
}

export function freeSlots(c: CandidateNode): number {
  return Math.max(0, c.slots - usedSlots(c));
}

/** how the node would run it: 0 natively, 1 emulated; undefined when it cannot */
function fit(c: CandidateNode, need: PlacementNeed): number | undefined {
  if (need.backends && !need.backends.some((b) => c.backends.includes(b))) return undefined;
  if (need.volumes?.some((v) => !(c.volumes ?? []).includes(v))) return undefined;
  for (const [k, v] of Object.entries(need.placement?.labels ?? {})) if (c.labels[k] !== v) return undefined;
  const wanted = need.placement?.platforms?.map(parsePlatformLoose);
  // The host runtime runs the node's own programs: only its native platform counts.
  const nodePlatforms = need.imagePlatforms === undefined ? c.platforms.slice(0, 1) : c.platforms;
  for (let i = 0; i < nodePlatforms.length; i++) {
    const np = parsePlatformLoose(nodePlatforms[i]!);
    if (!np) continue;
    if (need.imagePlatforms !== undefined) {
      const imageFits = need.imagePlatforms.some((ip) => {
        const p = parsePlatformLoose(ip);
        return p !== undefined && platformRuns(p, np);
      });
      if (!imageFits) continue;
    }
    if (wanted && !wanted.some((w) => w !== undefined && platformRuns(w, np))) continue;
    return i === 0 ? 0 : 1;
  }
  return undefined;
}

function parsePlatformLoose(s: string) {
  try {
    return parsePlatform(s);
  } catch {
    return undefined;
  }
}

interface Ranked {
  node: CandidateNode;
  warm: number;
  emulated: number;
  load: number;
}

/**
 * The nodes that can run every one of `needs` (one call, or the stages of a pipe that share a
 * node), best first. Throws AgniError('no_node') naming what the ready nodes do offer when none can.
 */
export function rankNodes(
  candidates: readonly CandidateNode[],
  needs: readonly PlacementNeed[],
): CandidateNode[] {
  const ranked: Ranked[] = [];
  for (const c of candidates) {
    if (c.state !== 'ready' || c.slots <= 0) continue;
    let emulated = 0;
    let ok = true;
    for (const need of needs) {
      const f = fit(c, need);
      if (f === undefined) {
        ok = false;
        break;
      }
      emulated += f;
    }
    if (!ok) continue;
    const warm = needs.filter((n) => c.warm.includes(n.key)).length;
    ranked.push({ node: c, warm, emulated, load: usedSlots(c) / c.slots });
  }
  if (ranked.length === 0) throw noNode(candidates, needs);
  ranked.sort(
    (a, b) =>
      b.warm - a.warm || a.emulated - b.emulated || a.load - b.load || a.node.node.localeCompare(b.node.node),
  );
  return ranked.map((r) => r.node);
}

/**
 * The best node with room for all of `needs` now; 'wait' when every eligible node is full.
 * Throws like rankNodes when no node can run them at all.
 */
export function chooseNode(
  candidates: readonly CandidateNode[],
  needs: readonly PlacementNeed[],
): CandidateNode | 'wait' {
  return rankNodes(candidates, needs).find((c) => freeSlots(c) >= needs.length) ?? 'wait';
}

function describeNeed(needs: readonly PlacementNeed[]): string {
  const parts: string[] = [];
  const platforms = new Set(needs.flatMap((n) => n.imagePlatforms ?? []));
  if (platforms.size > 0) parts.push(`an image for ${[...platforms].join(' or ')}`);
  const pinned = new Set(needs.flatMap((n) => n.placement?.platforms ?? []));
  if (pinned.size > 0) parts.push(`placement.platforms ${[...pinned].join(', ')}`);
  const labels = new Set(
    needs.flatMap((n) => Object.entries(n.placement?.labels ?? {}).map(([k, v]) => `${k}=${v}`)),
  );
  if (labels.size > 0) parts.push(`labels ${[...labels].join(', ')}`);
  const backends = new Set(needs.flatMap((n) => n.backends ?? []));
  if (backends.size > 0) parts.push(`a ${[...backends].join(' or ')} backend`);
  const volumes = new Set(needs.flatMap((n) => n.volumes ?? []));
  if (volumes.size > 0) parts.push(`volumes ${[...volumes].join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'any ready node';
}

function noNode(candidates: readonly CandidateNode[], needs: readonly PlacementNeed[]): AgniError {
  const ready = candidates.filter((c) => c.state === 'ready' && c.slots > 0);
  const platforms = [...new Set(ready.flatMap((c) => c.platforms))].sort();
  const labels = [
    ...new Set(ready.flatMap((c) => Object.entries(c.labels).map(([k, v]) => `${k}=${v}`))),
  ].sort();
  const backends = [...new Set(ready.flatMap((c) => c.backends))].sort();
  const volumes = [...new Set(ready.flatMap((c) => c.volumes ?? []))].sort();
  // A volume no ready node has is the likely reason: named first, on its own.
  const missing = [...new Set(needs.flatMap((n) => n.volumes ?? []))].filter((v) => !volumes.includes(v));
  // Nodes that would fit but are out of service are worth naming: waiting may be the answer.
  const resting = candidates
    .filter((c) => c.state !== 'ready' && needs.every((n) => fit(c, n) !== undefined))
    .map((c) => `${c.node} (${c.state})`);
  const what = needs.map((n) => n.key).join(', ');
  const offer =
    ready.length === 0
      ? 'no node is ready'
      : `ready nodes offer platforms ${platforms.join(', ') || 'none'}; labels ${labels.join(', ') || 'none'}; backends ${backends.join(', ') || 'none'}${volumes.length > 0 || missing.length > 0 ? `; volumes ${volumes.join(', ') || 'none'}` : ''}`;
  const lacking = missing.length > 0 ? `no ready node has volume ${missing.join(', ')}; ` : '';
  return new AgniError(
    'no_node',
    `no node can run ${what}: ${lacking}it needs ${describeNeed(needs)}, and ${offer}${resting.length ? `; would fit but out of service: ${resting.join(', ')}` : ''}`,
    {
      hint: resting.length
        ? 'resume a drained node with `agni node resume NAME`, or wait for a lost one to come back'
        : missing.length > 0
          ? `declare the volume on the nodes that have it: \`agni agent --volume ${missing[0]}=/path\``
          : 'start an agent that fits (`agni agent --platforms … --labels k=v`), or change `placement:` in agni.yaml',
      details: {
        wanted: {
          platforms: [...new Set(needs.flatMap((n) => n.imagePlatforms ?? []))],
          placement: needs.map((n) => n.placement ?? {}),
          volumes: [...new Set(needs.flatMap((n) => n.volumes ?? []))],
        },
        available: { platforms, labels, backends, ...(volumes.length > 0 ? { volumes } : {}) },
        ...(missing.length > 0 ? { missing_volumes: missing } : {}),
        out_of_service: resting,
      },
    },
  );
}
