/**
 * `network: egress` on the host: per sandbox a network namespace (`ip netns add`, joined by runc
 * by path), a veth pair (host side `agni-e<slot>`, sandbox side `eth0`) on the slot's /30 of the
 * pool, a default route through the host, NAT, and the sandbox's firewall (egress-rules.ts). The
 * host-side link name is the slot's lock: the kernel refuses a second link of one name, so two
 * Agni processes on one host never hand out one address. Everything is removed with the sandbox;
 * `sweep` removes what a crashed process left (its namespaces go with removeLeftoverForwards).
 */
import { execFile, spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { BlockList } from 'node:net';
import { promisify } from 'node:util';
import { type AllowEntry, isNeverAddress } from '../core/egress-allow.js';
import { AgniError } from '../core/errors.js';
import {
  allowedDests,
  type EgressPlan,
  type EgressPool,
  linkName,
  poolCidr,
  poolSlots,
  setupRules,
  slotAddresses,
  sweepRules,
  teardownRules,
} from './egress-rules.js';

const execFileP = promisify(execFile);

export interface EgressNamespace {
  /** for runc's `namespaces: [{type: network, path}]` */
  readonly netns: string;
  /** the sandbox's own address */
  readonly address: string;
  /** removes the firewall, the veth pair and the namespace; idempotent, never rejects */
  close(): Promise<void>;
}

/** Runs `cmd args` with `input` on stdin; rejects with its stderr. */
function withInput(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4096) err += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`)),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

export class EgressNetwork {
  private readonly used = new Set<number>();
  private next = 0;
  /** iptables-nft commits are serialised here: concurrent ones from one process only retry each other */
  private iptablesQueue: Promise<unknown> = Promise.resolve();
  private forwarding: Promise<void> | undefined;
  private readonly poolBlock = new BlockList();

  constructor(
    /** the home's tag, 8 hex digits */
    private readonly tag: string,
    /** namespace names (and owner comments) of this home start with it */
    private readonly ownerPrefix: string,
    private readonly pool: EgressPool,
  ) {
    this.poolBlock.addSubnet(pool.base, pool.prefix, 'ipv4');
  }

  /** slots this process holds (their chains are not leftovers) */
  slotsInUse(): ReadonlySet<number> {
    return this.used;
  }

  private iptables(input: string): Promise<void> {
    const p = this.iptablesQueue.then(() => withInput('iptables-restore', ['-w', '5', '--noflush'], input));
    this.iptablesQueue = p.catch(() => {});
    return p;
  }

  /** The kernel only forwards with ip_forward on (as Docker and CNI's bridge plugin turn it on). */
  private ensureForwarding(): Promise<void> {
    this.forwarding ??= (async () => {
      const f = '/proc/sys/net/ipv4/ip_forward';
      if ((await readFile(f, 'utf8')).trim() !== '1') await writeFile(f, '1');
    })().catch((e) => {
      this.forwarding = undefined;
      throw e;
    });
    return this.forwarding;
  }

  /** names resolved now: the addresses the firewall allows for this sandbox's lifetime */
  private async resolve(allow: AllowEntry[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const a of allow) {
      if (a.prefix !== undefined || out.has(a.host)) continue;
      let ips: string[];
      try {
        ips = (await lookup(a.host, { all: true, family: 4 })).map((r) => r.address);
      } catch (e) {
        throw new AgniError(
          'sandbox_error',
          `allow entry ${a.text}: cannot resolve ${a.host} (${(e as Error).message})`,
          {
            hint: 'the node resolves names in `allow` when it sets a sandbox up: check its DNS, or use an address',
          },
        );
      }
      // A name may not smuggle in what an address could not be (metadata, loopback, other sandboxes).
      out.set(
        a.host,
        ips.filter((ip) => !isNeverAddress(ip) && !this.poolBlock.check(ip, 'ipv4')),
      );
    }
    return out;
  }

  /**
   * Namespace `name` and a free slot's veth pair (peer `eth0` inside it), the host side addressed
   * and up: one `ip -b` per try, since each process spawn costs milliseconds on a busy host.
   */
  private async claimSlot(name: string): Promise<number> {
    const slots = poolSlots(this.pool);
    let nsMade = false;
    for (let tries = 0; tries < Math.min(slots, 256); tries++) {
      let slot = this.next;
      while (this.used.has(slot)) slot = (slot + 1) % slots;
      this.next = (slot + 1) % slots;
      this.used.add(slot);
      const link = linkName(slot);
      const { host } = slotAddresses(this.pool, slot);
      const batch = [
        ...(nsMade ? [] : [`netns add ${name}`]),
        `link add ${link} type veth peer name eth0 netns ${name}`,
        `addr add ${host}/30 dev ${link}`,
        `link set ${link} up`,
      ];
      try {
        await withInput('ip', ['-b', '-'], `${batch.join('\n')}\n`);
        return slot;
      } catch (e) {
        this.used.delete(slot);
        const msg = (e as Error).message;
        const linkLine = batch.findIndex((l) => l.startsWith('link add')) + 1;
        nsMade = existsSync(`/run/netns/${name}`);
        // Another Agni process (or a leftover being swept) holds the link name: try the next slot.
        // Any other failure is thrown; deleting the namespace then removes whatever pair was made.
        if (!nsMade || !/File exists/.test(msg) || !msg.includes(`Command failed -:${linkLine}`)) throw e;
      }
    }
    throw new Error(`no free address in the egress pool ${poolCidr(this.pool)}`);
  }

  async open(name: string, allow: AllowEntry[]): Promise<EgressNamespace> {
    let slot: number | undefined;
    let rules: EgressPlan | undefined;
    let closed: Promise<void> | undefined;
    const close = () => {
      closed ??= (async () => {
        if (rules) {
          const plan = rules;
          await this.iptables(teardownRules(plan)).catch(() =>
            this.sweep(
              (o) => o === plan.owner,
              (s) => s === plan.slot,
            ),
          );
        }
        // the link first: deleting only the namespace frees the veth pair later, in the kernel's own time
        const del = [...(slot === undefined ? [] : [`link del ${linkName(slot)}`]), `netns delete ${name}`];
        await withInput('ip', ['-force', '-b', '-'], `${del.join('\n')}\n`).catch(() => {});
        if (slot !== undefined) this.used.delete(slot);
      })().catch(() => {});
      return closed;
    };
    try {
      await this.ensureForwarding();
      // Independent steps run side by side: each is a process spawn, slow on a busy host.
      const resolving = this.resolve(allow);
      resolving.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
      slot = await this.claimSlot(name);
      const link = linkName(slot);
      const { host, sandbox } = slotAddresses(this.pool, slot);
      // No IPv6 on the host side: the sandbox could otherwise reach the host's link-local address
      // and sockets bound to [::] by multicast. The sandbox's process does not exist yet.
      await writeFile(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1').catch((e) => {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // ENOENT: no IPv6 in this kernel
      });
      const plan: EgressPlan = {
        tag: this.tag,
        owner: name,
        slot,
        pool: this.pool,
        allow: allowedDests(allow, await resolving),
      };
      rules = plan;
      await Promise.all([
        withInput(
          'ip',
          ['-n', name, '-b', '-'],
          `link set lo up\naddr add ${sandbox}/30 dev eth0\nlink set eth0 up\nroute add default via ${host}\n`,
        ),
        this.iptables(setupRules(plan)).catch((e) => {
          rules = undefined; // a failed commit installed nothing
          throw e;
        }),
      ]);
      return { netns: `/run/netns/${name}`, address: sandbox, close };
    } catch (e) {
      await close();
      if (e instanceof AgniError) throw e;
      throw new AgniError(
        'sandbox_error',
        `cannot set up the sandbox's egress network: ${(e as Error).message}`,
        {
          hint: 'network: egress needs `ip` (iproute2) and `iptables` (iptables-nft) as root: run scripts/setup.sh',
        },
      );
    }
  }

  /**
   * Removes this home's firewall rules whose owner `stale` says is gone, and its chains whose slot
   * `staleChain` says is (a crash leaves both; its namespaces and veths go with the namespace sweep).
   */
  async sweep(stale: (owner: string) => boolean, staleChain: (slot: number) => boolean): Promise<number> {
    if (!existsSync('/usr/sbin/iptables-save') && !existsSync('/sbin/iptables-save')) return 0;
    let count = 0;
    for (const table of ['filter', 'nat']) {
      let saved: string;
      try {
        saved = (await execFileP('iptables-save', ['-t', table], { maxBuffer: 64 * 1024 * 1024 })).stdout;
      } catch {
        continue;
      }
      const input = sweepRules(saved, this.tag, this.ownerPrefix, stale, staleChain);
      if (!input) continue;
      count += input.split('\n').filter((l) => l.startsWith('-D ') || l.startsWith('-X ')).length;
      await this.iptables(input).catch(() => {});
    }
    return count;
  }
}
