/**
 * Where the server may send a request on a user's behalf (async callbacks): public addresses
 * only, unless the operator allows more. Refused: loopback, unspecified, private, shared (CGNAT),
 * link-local (cloud metadata at 169.254.169.254 among them), multicast, broadcast, reserved and
 * documentation ranges, and the IPv6 forms that carry an IPv4 address inside (mapped, compatible,
 * NAT64, 6to4, Teredo), whose IPv4 part could be any of these. Pure: addresses in, a reason out.
 *
 * Every spelling of an address reaches here as one canonical text: the WHATWG URL parser turns
 * 2130706433, 0177.0.0.1, 0x7f000001 and 127.1 into 127.0.0.1 and lowercases and compresses IPv6;
 * names are resolved by the caller, and each resolved address is checked here as well.
 */
import { BlockList, isIP } from 'node:net';
import { AgniError } from './errors.js';

const RANGES: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared address space (CGNAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (cloud metadata lives here)'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'ipv4', 'documentation'],
  ['192.88.99.0', 24, 'ipv4', '6to4 relay'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking'],
  ['198.51.100.0', 24, 'ipv4', 'documentation'],
  ['203.0.113.0', 24, 'ipv4', 'documentation'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved or broadcast'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['::ffff:0:0', 96, 'ipv6', 'IPv4-mapped'],
  ['::', 96, 'ipv6', 'IPv4-compatible'],
  ['64:ff9b::', 96, 'ipv6', 'NAT64'],
  ['64:ff9b:1::', 48, 'ipv6', 'NAT64 (local use)'],
  ['100::', 64, 'ipv6', 'discard-only'],
  ['2001::', 32, 'ipv6', 'Teredo'],
  ['2001:db8::', 32, 'ipv6', 'documentation'],
  ['2002::', 16, 'ipv6', '6to4'],
  ['fc00::', 7, 'ipv6', 'unique local (private)'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['fec0::', 10, 'ipv6', 'site-local'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];

const BLOCKS = RANGES.map(([net, prefix, type, reason]) => {
  const b = new BlockList();
  b.addSubnet(net, prefix, type);
  return { b, type, reason };
});

function family(ip: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(ip);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** Why `ip` is not a public address (e.g. "loopback"), or undefined when it is one. */
export function blockedReason(ip: string): string | undefined {
  const type = family(ip);
  if (!type) return 'not an IP address';
  // BlockList matches an IPv4 rule against the IPv4 inside a mapped IPv6 address (wanted), and an
  // IPv4 address against IPv6 rules as if it were mapped (not wanted: every address would be
  // "IPv4-mapped"), so an IPv4 address meets the IPv4 rules only.
  return BLOCKS.find((x) => (type === 'ipv6' || x.type === 'ipv4') && x.b.check(ip, type))?.reason;
}

/** What the operator lets through anyway: address ranges and host names. */
export interface AddressAllowList {
  /** IPv4 and IPv6 ranges apart, for the reason given in blockedReason */
  ranges: { ipv4: BlockList; ipv6: BlockList };
  hosts: ReadonlySet<string>;
  /** as given, for messages */
  entries: readonly string[];
}

function normalHost(h: string): string {
  return h.toLowerCase().replace(/\.$/, '');
}

/** Parses `--callback-allow` entries: an IP, a CIDR (10.0.0.0/8, fd00::/8) or a host name. */
export function parseAllowList(entries: readonly string[], flag = '--callback-allow'): AddressAllowList {
  const ranges = { ipv4: new BlockList(), ipv6: new BlockList() };
  const hosts = new Set<string>();
  for (const raw of entries) {
    const e = raw.trim().replace(/^\[(.*)\]$/, '$1');
    const [net, bits, extra] = e.split('/');
    const type = family(net ?? '');
    const max = type === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (
      type &&
      extra === undefined &&
      Number.isInteger(prefix) &&
      prefix >= 0 &&
      prefix <= max &&
      bits !== ''
    ) {
      ranges[type].addSubnet(net!, prefix, type);
    } else if (
      bits === undefined &&
      /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(e)
    ) {
      hosts.add(normalHost(e));
    } else {
      throw new AgniError(
        'bad_request',
        `${flag} ${JSON.stringify(raw)}: expected an IP address, a CIDR range (10.0.0.0/8) or a host name`,
        { hint: `e.g. ${flag} 127.0.0.1 ${flag} 10.1.0.0/16 ${flag} hooks.internal` },
      );
    }
  }
  return { ranges, hosts, entries: [...entries] };
}

export const NOTHING_ALLOWED: AddressAllowList = parseAllowList([]);

/** The IP a URL host names literally (brackets of IPv6 removed), or undefined for a name. */
export function literalAddress(hostname: string): string | undefined {
  const h = hostname.replace(/^\[(.*)\]$/, '$1');
  return family(h) ? h : undefined;
}

/** Whether the operator allowed this host name as a whole (whatever it resolves to). */
export function hostAllowed(hostname: string, allow: AddressAllowList): boolean {
  return allow.hosts.has(normalHost(hostname));
}

/** Why a connection to `ip` is refused under `allow`, or undefined. */
export function addressRefusal(ip: string, allow: AddressAllowList): string | undefined {
  const reason = blockedReason(ip);
  if (!reason) return undefined;
  const type = family(ip);
  if (type === 'ipv4' && allow.ranges.ipv4.check(ip, type)) return undefined;
  if (type === 'ipv6' && (allow.ranges.ipv6.check(ip, type) || allow.ranges.ipv4.check(ip, type)))
    return undefined;
  return `${ip} is ${reason === 'not an IP address' ? reason : `a ${reason} address`}`;
}

/**
 * Why a callback URL is refused before any lookup, or undefined: only literal addresses can be
 * judged here; names are judged by what they resolve to when the callback is sent.
 */
export function urlRefusal(url: URL, allow: AddressAllowList): string | undefined {
  if (hostAllowed(url.hostname, allow)) return undefined;
  const ip = literalAddress(url.hostname);
  return ip === undefined ? undefined : addressRefusal(ip, allow);
}
