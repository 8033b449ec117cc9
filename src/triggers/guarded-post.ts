/**
 * A POST to a URL a user gave (async callbacks) that cannot be turned against the server's own
 * network: the host's addresses are checked (core/address-policy.ts) in the lookup the socket
 * connects with, so the address checked is the address used (no second lookup for a rebinding
 * name to answer differently), and redirects are never followed.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { type AddressAllowList, addressRefusal, hostAllowed, urlRefusal } from '../core/address-policy.js';

/** A destination the policy refuses: not worth retrying. */
export class DestinationRefused extends Error {
  override name = 'DestinationRefused';
}

const HINT = 'the operator can allow it with `agni up --callback-allow CIDR|HOST`';

function refused(what: string): DestinationRefused {
  return new DestinationRefused(`destination refused: ${what}; ${HINT}`);
}

/** A dns.lookup that fails when any address of the name is refused. */
function guardedLookup(allow: AddressAllowList): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const bad = hostAllowed(hostname, allow)
        ? undefined
        : addresses.map((a) => addressRefusal(a.address, allow)).find((r) => r !== undefined);
      if (bad) return callback(refused(`${hostname} resolves to ${bad}`), '', 0);
      if ((options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** POSTs `body`; resolves with the status code (3xx included: never followed). */
export function guardedPost(
  url: string,
  body: string,
  headers: Record<string, string>,
  allow: AddressAllowList,
  timeoutMs: number,
): Promise<number> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(refused('not a valid URL'));
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(refused(`${u.protocol} URL`));
  // A literal address never reaches the lookup: judge it here (the allow list may have changed since submit).
  const literal = urlRefusal(u, allow);
  if (literal) return Promise.reject(refused(literal));
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: guardedLookup(allow),
        signal: AbortSignal.timeout(timeoutMs),
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
