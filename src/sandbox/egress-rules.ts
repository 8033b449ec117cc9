/**
 * The firewall of one `network: egress` sandbox, as iptables-restore input (one atomic commit per
 * table), and the pool arithmetic that gives each sandbox its own /30. Pure: no I/O.
 *
 * Per sandbox (slot N, host-side veth LINK, sandbox address S):
 * - filter INPUT: anything arriving on LINK is rejected, so no host address (any interface's, the
 *   veth's own, the API's port on 0.0.0.0) is reachable; the host's loopback is never routed to.
 * - filter FORWARD jumps (in and out of LINK) to the sandbox's own chain AG-<tag>-N: replies to its
 *   own connections come back, nothing else comes in; packets not from S (spoofed) are dropped;
 *   link-local (metadata), multicast, reserved and the pool itself (other sandboxes) are rejected;
 *   then each allowed destination is accepted; everything else is rejected.
 * - nat POSTROUTING: S is masqueraded behind the host's address on the way out.
 * Every rule outside the chain carries the sandbox's owner comment (its namespace name), so a sweep
 * after a crash finds exactly this home's leftovers in `iptables-save`.
 */
import { entryCidr, intToIp, NEVER_CIDRS, networkOf } from '../core/egress-allow.js';

export const REJECT = '-j REJECT --reject-with icmp-admin-prohibited';

/**
 * Refusals that fail fast: TCP gets a reset, since the kernel rate-limits ICMP errors to one a
 * second per destination and a SYN would otherwise wait for its retransmit; the rest get ICMP.
 */
function rejects(match: string): string[] {
  const m = match ? `${match} ` : '';
  return [`${m}-p tcp -j REJECT --reject-with tcp-reset`, `${m}${REJECT}`];
}
/** host-side veth names: the kernel refuses a second link of one name, so a name is a host-wide slot lock */
export const LINK_PREFIX = 'agni-e';

export interface EgressPool {
  /** network address, e.g. 10.89.0.0 */
  base: string;
  prefix: number;
}

/** a pool CIDR such as 10.89.0.0/16, or the reason it is not one */
export function parsePool(text: string): EgressPool | string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!m || m[1]!.split('.').some((o) => Number(o) > 255)) return 'an IPv4 CIDR, e.g. 10.89.0.0/16';
  const prefix = Number(m[2]);
  if (prefix < 12 || prefix > 28) return 'a prefix from /12 to /28 (each sandbox takes a /30)';
  if (networkOf(m[1]!, prefix) !== m[1]) return `a network address (${networkOf(m[1]!, prefix)}/${prefix})`;
  return { base: m[1]!, prefix };
}

export function poolSlots(pool: EgressPool): number {
  return 2 ** (30 - pool.prefix);
}

export function poolCidr(pool: EgressPool): string {
  return `${pool.base}/${pool.prefix}`;
}

/** slot N's /30: the host side is .1, the sandbox .2 */
export function slotAddresses(pool: EgressPool, slot: number): { host: string; sandbox: string } {
  const base = pool.base.split('.').reduce((a, o) => a * 256 + Number(o), 0) + slot * 4;
  return { host: intToIp(base + 1), sandbox: intToIp(base + 2) };
}

export function linkName(slot: number): string {
  return `${LINK_PREFIX}${slot}`;
}

/** `AG-<tag>-<slot>`: within iptables' 28 characters, and the tag names the Agni home */
export function chainName(tag: string, slot: number): string {
  return `AG-${tag}-${slot}`;
}

/** a destination the firewall accepts: CIDR text and optional port */
export interface AllowedDest {
  cidr: string;
  port?: number;
}

export interface EgressPlan {
  /** the home's tag (8 hex digits, the netns prefix's) */
  tag: string;
  /** the owner comment: the sandbox's namespace name */
  owner: string;
  slot: number;
  pool: EgressPool;
  allow: AllowedDest[];
}

function lines(p: EgressPlan) {
  const link = linkName(p.slot);
  const chain = chainName(p.tag, p.slot);
  const s = slotAddresses(p.pool, p.slot).sandbox;
  const own = `-m comment --comment ${p.owner}`;
  return {
    chain,
    jumps: [
      `INPUT -i ${link} ${own} -p tcp -j REJECT --reject-with tcp-reset`,
      `INPUT -i ${link} ${own} ${REJECT}`,
      `FORWARD -i ${link} ${own} -j ${chain}`,
      `FORWARD -o ${link} ${own} -j ${chain}`,
    ],
    nat: `POSTROUTING -s ${s}/32 ${own} -j MASQUERADE`,
    body: [
      `-o ${link} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      `-o ${link} -j DROP`,
      `! -s ${s}/32 -j DROP`,
      ...[...NEVER_CIDRS, poolCidr(p.pool)].flatMap((c) => rejects(`-d ${c}`)),
      ...p.allow.flatMap((a) =>
        a.port === undefined
          ? [`-d ${a.cidr} -j ACCEPT`]
          : ['tcp', 'udp'].map((proto) => `-d ${a.cidr} -p ${proto} -m ${proto} --dport ${a.port} -j ACCEPT`),
      ),
      ...rejects(''),
    ],
  };
}

/** iptables-restore --noflush input that installs the sandbox's firewall (both tables or neither) */
export function setupRules(p: EgressPlan): string {
  const l = lines(p);
  return [
    '*filter',
    `:${l.chain} - [0:0]`,
    ...l.body.map((r) => `-A ${l.chain} ${r}`),
    // Inserted first: a host firewall (or Docker's) that accepts forwarded traffic must not decide first.
    // Inserted one by one at the top: reversed, so they end up in the order written.
    ...[...l.jumps].reverse().map((r) => `-I ${r.replace(' ', ' 1 ')}`),
    'COMMIT',
    '*nat',
    `-I ${l.nat.replace(' ', ' 1 ')}`,
    'COMMIT',
    '',
  ].join('\n');
}

/** the exact inverse of setupRules */
export function teardownRules(p: EgressPlan): string {
  const l = lines(p);
  return [
    '*filter',
    ...l.jumps.map((r) => `-D ${r}`),
    `-F ${l.chain}`,
    `-X ${l.chain}`,
    'COMMIT',
    '*nat',
    `-D ${l.nat}`,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * From `iptables-save` output: the iptables-restore --noflush input that removes every rule whose
 * owner comment `stale(owner)` says is a leftover, and every chain AG-<tag>-N that `staleChain`
 * says is, or undefined when there is nothing to remove.
 */
export function sweepRules(
  saved: string,
  tag: string,
  ownerPrefix: string,
  stale: (owner: string) => boolean,
  staleChain: (slot: number) => boolean,
): string | undefined {
  const tables = new Map<string, { del: string[]; chains: string[] }>();
  let table = '';
  const chainRe = new RegExp(`^:(AG-${tag}-(\\d+)) `);
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      tables.set(table, { del: [], chains: [] });
      continue;
    }
    const t = tables.get(table);
    if (!t) continue;
    const c = chainRe.exec(line);
    if (c && staleChain(Number(c[2]))) t.chains.push(c[1]!);
    const owner = /--comment "?([^\s"]+)"?/.exec(line)?.[1];
    if (line.startsWith('-A ') && owner?.startsWith(ownerPrefix) && stale(owner))
      t.del.push(`-D ${line.slice(3)}`);
  }
  const out: string[] = [];
  for (const [name, t] of tables) {
    if (t.del.length === 0 && t.chains.length === 0) continue;
    out.push(
      `*${name}`,
      ...t.del,
      ...t.chains.map((c) => `-F ${c}`),
      ...t.chains.map((c) => `-X ${c}`),
      'COMMIT',
    );
  }
  return out.length > 0 ? `${out.join('\n')}\n` : undefined;
}

/** the allow entries with names replaced by their resolved addresses */
export function allowedDests(
  allow: { host: string; prefix?: number; port?: number }[],
  resolved: Map<string, string[]>,
): AllowedDest[] {
  return allow.flatMap((a) => {
    const port = a.port === undefined ? {} : { port: a.port };
    if (a.prefix !== undefined) return [{ cidr: entryCidr(a), ...port }];
    return (resolved.get(a.host) ?? []).map((ip) => ({ cidr: `${ip}/32`, ...port }));
  });
}
