/**
 * Network failures between the CLI and the server, as messages a user can act on. Node reports
 * them as errno codes (http) or as `TypeError: fetch failed` with the errno error as its cause
 * (fetch); either way the user sees what happened and what to try, never a stack.
 */
import { AgniError } from '../core/errors.js';

const START_HINT = 'start one with `agni up`, or point AGNI_URL at a running server';

/** errno code → what it means here, and what to do about it. */
const CAUSES: Record<string, { why: string; hint: string }> = {
  ECONNREFUSED: { why: 'nothing listens there (connection refused)', hint: START_HINT },
  ENOTFOUND: {
    why: 'its host name does not resolve (DNS lookup failed)',
    hint: 'check the host in AGNI_URL',
  },
  EAI_AGAIN: {
    why: 'its host name could not be resolved now (DNS lookup timed out)',
    hint: 'check the host in AGNI_URL and your DNS, then try again',
  },
  EHOSTUNREACH: { why: 'no route to its host', hint: 'check the host in AGNI_URL and your network' },
  ENETUNREACH: { why: 'its network is unreachable', hint: 'check the host in AGNI_URL and your network' },
  ETIMEDOUT: {
    why: 'the connection timed out',
    hint: 'check that the server runs and that a firewall lets AGNI_URL through',
  },
  ECONNRESET: {
    why: 'the server closed the connection before it finished answering',
    hint: "the server may have stopped, or refused the request midway: see its log (agni up's output), then try again",
  },
  EPIPE: {
    why: 'the server closed the connection while the request was still being sent',
    hint: "the server may have stopped, or refused the upload midway: see its log (agni up's output), then try again",
  },
  UND_ERR_SOCKET: {
    why: 'the server closed the connection before it finished answering',
    hint: "the server may have stopped, or refused the request midway: see its log (agni up's output), then try again",
  },
  ECONNABORTED: {
    why: 'the connection was aborted',
    hint: "see the server's log (agni up's output), then try again",
  },
};

/** The errno-like code of `e` or of its cause (fetch wraps the real error), if any. */
export function netCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; depth++) {
    const c = cur as { code?: unknown; cause?: unknown; message?: unknown };
    if (typeof c.code === 'string' && c.code in CAUSES) return c.code;
    // http's premature end of a response: `Error: aborted` (code ECONNRESET), or a bare hang-up
    if (c.message === 'socket hang up' || c.message === 'aborted' || c.message === 'terminated')
      return 'ECONNRESET';
    cur = c.cause;
  }
  return undefined;
}

/** `e` as an AgniError naming the server at `url`, or undefined when it is no network failure. */
export function networkError(e: unknown, url: string): AgniError | undefined {
  const code = netCode(e);
  if (!code) {
    // fetch rejects only when no answer came: e.g. a port browsers refuse ("bad port")
    if (!(e instanceof TypeError && e.message === 'fetch failed')) return undefined;
    const why = e.cause instanceof Error ? e.cause.message : 'the request failed';
    return new AgniError('server_unreachable', `cannot reach the Agni server at ${url}: ${why}`, {
      hint: START_HINT,
      cause: e,
    });
  }
  const c = CAUSES[code]!;
  const verb =
    code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' ? 'lost' : 'cannot reach';
  const what =
    verb === 'lost'
      ? `lost the connection to the Agni server at ${url}`
      : `cannot reach the Agni server at ${url}`;
  return new AgniError('server_unreachable', `${what}: ${c.why} [${code}]`, { hint: c.hint, cause: e });
}

/** AGNI_URL as the base every request is made on; a bad one is named with the fix. */
export function checkServerUrl(raw: string): string {
  let u: URL | undefined;
  try {
    u = new URL(raw);
  } catch {
    // below
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host) {
    const guess =
      /^[\w.-]+:\d+/.test(raw) || /^[\w.-]+$/.test(raw) ? `http://${raw}` : 'http://127.0.0.1:8780';
    throw new AgniError('bad_request', `AGNI_URL ${JSON.stringify(raw)} is not an http:// or https:// URL`, {
      hint: `e.g. AGNI_URL=${guess}`,
    });
  }
  return raw.replace(/\/+$/, '');
}
