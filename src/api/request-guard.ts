/**
 * What the API refuses from a browser before any route runs: an unknown Host (DNS rebinding) and
 * a state-changing request from another site (CSRF). The rules are core/allowed-hosts.ts's.
 * Applies with or without a token, and to /hooks/* too: an outsider's webhook call carries the
 * public name the operator allowed and no Origin.
 */
import type { FastifyRequest } from 'fastify';
import { crossSiteProblem, type HostPolicy, hostProblem } from '../core/allowed-hosts.js';
import { AgniError } from '../core/errors.js';

export function guardRequest(req: FastifyRequest, hosts: HostPolicy): void {
  const badHost = hostProblem(req.headers.host, hosts);
  if (badHost) {
    throw new AgniError('host_not_allowed', badHost, {
      hint: 'reach the server as localhost or by IP address, or start it with `agni up --allow-host NAME` (AGNI_ALLOWED_HOSTS) for this name',
    });
  }
  const crossSite = crossSiteProblem(req.method, req.headers as Record<string, string | undefined>);
  if (crossSite) {
    throw new AgniError('cross_origin', `refused: ${crossSite}`, {
      hint: 'a web page cannot change this server; use the agni CLI or an HTTP client that sends no Origin header',
    });
  }
}
