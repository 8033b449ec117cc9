/**
 * agni.yaml `allow:` for `network: egress`: the only destinations a sandbox may reach. An entry is
 * an IPv4 address or CIDR, or a host name, each with an optional port: `10.0.0.5:5432`,
 * `192.168.0.0/16`, `10.1.0.0/24:443`, `db.lab:5432`, `db.lab`. A name is resolved by the node when
 * it sets the sandbox up (so prewarmed sandboxes and warm workers keep the addresses they were made
 * with). Without a port every TCP and UDP port of the destination is allowed; with one, that port
 * on TCP and UDP. Pure: text in, entries or a reason out.
 */
import { BlockList, isIPv4 } from 'node:net';

export interface AllowEntry {
  /** an IPv4 address (with `prefix`) or a host name (resolved at sandbox setup) */
  host: string;
  /** the CIDR prefix length for an address (32 for a single address); absent for a name */
  prefix?: number;
  port?: number;
  /** the entry as written, for error messages and docs */
  text: string;
}

/** the most entries a function may list: each is one firewall rule per address */
export const MAX_ALLOW = 64;

const NAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$/;

/**
 * Never reachable, whatever `allow` says: they belong to the host or to no one. Link-local holds
 * cloud metadata (169.254.169.254); loopback and "this network" are the sandbox's own or the host's.
 */
const NEVER: [string, number, string][] = [
  ['0.0.0.0', 8, '"this network"'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata lives here)'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved or broadcast'],
];

const NEVER_BLOCK = new BlockList();
for (const [net, p] of NEVER) NEVER_BLOCK.addSubnet(net, p, 'ipv4');

/** true for an address no allow entry may reach (what a resolved name must not turn into) */
export function isNeverAddress(ip: string): boolean {
  return NEVER_BLOCK.check(ip, 'ipv4');
}

/** the ranges the firewall always rejects first, as CIDR text (src/sandbox/egress-rules.ts) */
export const NEVER_CIDRS = NEVER.filter(([n]) => n !== '0.0.0.0' && n !== '127.0.0.0').map(
  ([n, p]) => `${n}/${p}`,
);

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** `ip` with its host bits cleared for `prefix` */
export function networkOf(ip: string, prefix: number): string {
  const size = 2 ** (32 - prefix);
  return intToIp(Math.floor(ipToInt(ip) / size) * size);
}

/** true when the two CIDRs share at least one address */
export function cidrsOverlap(a: string, ap: number, b: string, bp: number): boolean {
  const p = Math.min(ap, bp);
  return networkOf(a, p) === networkOf(b, p);
}

/**
 * why the address range cannot be allowed, or undefined: a range inside a never-range is refused;
 * a wider one (`0.0.0.0/0`, "anywhere") is fine, since the firewall rejects never-ranges first.
 */
function neverProblem(ip: string, prefix: number): string | undefined {
  for (const [net, p, why] of NEVER) {
    if (prefix >= p && cidrsOverlap(ip, prefix, net, p))
      return `an address outside ${net}/${p} (${why}, never reachable)`;
  }
  return undefined;
}

/** One entry, or the reason it is not one (phrased as what was expected). */
export function parseAllowEntry(raw: unknown): AllowEntry | { problem: string } {
  if (typeof raw !== 'string' || raw.trim() === '')
    return { problem: 'host:port, host, or an IPv4 CIDR with an optional port, e.g. 10.0.0.5:5432' };
  const text = raw.trim();
  let rest = text;
  let port: number | undefined;
  if (text.split(':').length > 2)
    return { problem: 'an IPv4 address or a host name (IPv6 is not supported)' };
  const colon = text.lastIndexOf(':');
  if (colon >= 0) {
    const p = text.slice(colon + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
      return { problem: 'a port from 1 to 65535 after the `:`' };
    port = Number(p);
    rest = text.slice(0, colon);
  }
  let host = rest;
  let prefix: number | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    host = rest.slice(0, slash);
    const p = rest.slice(slash + 1);
    if (!/^\d{1,2}$/.test(p) || Number(p) > 32)
      return { problem: 'a CIDR prefix from 0 to 32 after the `/`' };
    prefix = Number(p);
    if (!isIPv4(host)) return { problem: 'an IPv4 address before the `/` of a CIDR' };
  }
  const port_ = port === undefined ? {} : { port };
  if (isIPv4(host)) {
    const pfx = prefix ?? 32;
    if (networkOf(host, pfx) !== host)
      return { problem: `a network address with its host bits clear (${networkOf(host, pfx)}/${pfx})` };
    const never = neverProblem(host, pfx);
    if (never) return { problem: never };
    return { host, prefix: pfx, ...port_, text };
  }
  if (/^[\d.]+$/.test(host)) return { problem: 'a dotted IPv4 address with four parts, e.g. 10.0.0.5' };
  if (!NAME_RE.test(host))
    return { problem: 'a host name (letters, digits, dots and dashes) or an IPv4 address' };
  if (host.toLowerCase() === 'localhost' || host.toLowerCase().endsWith('.localhost'))
    return { problem: 'a host other than localhost (loopback is never reachable)' };
  return { host: host.toLowerCase(), ...port_, text };
}

/**
 * The whole list: entries, or the index and reason of the first bad one. Checks against the
 * address pool of the sandboxes themselves happen on the node (the pool is the node's setting).
 */
export function parseAllowList(raw: unknown): AllowEntry[] | { index?: number; problem: string } {
  if (!Array.isArray(raw)) return { problem: 'a list of destinations, e.g. [10.0.0.5:5432, 192.168.0.0/16]' };
  if (raw.length > MAX_ALLOW) return { problem: `at most ${MAX_ALLOW} destinations` };
  const out: AllowEntry[] = [];
  for (const [index, item] of raw.entries()) {
    const e = parseAllowEntry(item);
    if ('problem' in e) return { index, problem: e.problem };
    out.push(e);
  }
  return out;
}

/** the address the firewall allows, as CIDR text */
export function entryCidr(e: { host: string; prefix?: number }): string {
  return `${e.host}/${e.prefix ?? 32}`;
}
