/**
 * Request checks of the local server. A web page on another site must not be able to use it:
 * - Host must name this server (127.0.0.1, localhost, [::1] on our port, or an allowed host), so
 *   a DNS-rebinding page that resolves its own name to 127.0.0.1 is refused;
 * - requests that change state or spend money must come from the editor's own origin (Origin,
 *   or Sec-Fetch-Site for browsers that send no Origin); clients without either (curl, scripts)
 *   are not browsers and cannot be driven by a web page;
 * - cross-site API reads are refused too (Sec-Fetch-Site), and no CORS header is ever sent.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-util';

export interface SecurityOptions {
  port: number;
  /** Extra host names (without port) accepted in Host, e.g. when listening on a LAN address on purpose. */
  allowedHosts?: readonly string[];
  /** Names the server is reached by (`--public-host`): accepted with or without a port, over https. */
  publicHosts?: readonly string[];
  /** How the editor's pages are loaded here (https with --tls-cert). */
  scheme?: 'http' | 'https';
  /** A TLS-terminating proxy is in front: the browser's origin is https. */
  behindProxy?: boolean;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export function allowedHostHeaders(opts: SecurityOptions): Set<string> {
  const names = [...LOOPBACK_NAMES, ...(opts.allowedHosts ?? [])].map((h) => h.toLowerCase());
  const out = new Set<string>();
  for (const name of names) {
    out.add(`${name}:${opts.port}`);
    if (opts.port === 80) out.add(name);
  }
  // A public name is reached through the proxy or TLS on its usual port, or on ours.
  for (const name of (opts.publicHosts ?? []).map((h) => h.toLowerCase())) for (const h of [name, `${name}:443`, `${name}:${opts.port}`]) out.add(h);
  return out;
}

export function allowedOrigins(opts: SecurityOptions): Set<string> {
  const hosts = [...allowedHostHeaders(opts)];
  const schemes = opts.scheme === 'https' ? ['https'] : opts.behindProxy ? ['https', 'http'] : ['http'];
  return new Set(schemes.flatMap((s) => hosts.map((h) => `${s}://${h.replace(/:443$/, s === 'https' ? '' : ':443')}`)).concat(schemes.flatMap((s) => hosts.map((h) => `${s}://${h}`))));
}

export const STATE_CHANGING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RequestGuard {
  /** Throws an HttpError when the request must be refused. */
  check(req: IncomingMessage, opts: { isApi: boolean }): void;
}

export function createGuard(opts: SecurityOptions): RequestGuard {
  const hosts = allowedHostHeaders(opts);
  const origins = allowedOrigins(opts);
  return {
    check(req, { isApi }) {
      const host = (req.headers.host ?? '').toLowerCase();
      if (!hosts.has(host)) {
        throw new HttpError(403, 'forbidden_host', `this server only answers requests for ${[...hosts][0]} (got Host: ${host || 'none'})`);
      }
      const method = (req.method ?? 'GET').toUpperCase();
      const site = String(req.headers['sec-fetch-site'] ?? '').toLowerCase();
      const origin = req.headers.origin;
      if (method === 'OPTIONS') throw new HttpError(403, 'forbidden_origin', 'cross-origin requests are not allowed');
      if (STATE_CHANGING_METHODS.has(method)) {
        if (origin !== undefined && !origins.has(origin.toLowerCase())) {
          throw new HttpError(403, 'forbidden_origin', `requests that change state must come from the editor itself (got Origin: ${origin})`);
        }
        if (origin === undefined && site && site !== 'same-origin' && site !== 'none') {
          throw new HttpError(403, 'forbidden_origin', `requests that change state must come from the editor itself (Sec-Fetch-Site: ${site})`);
        }
      } else if (isApi && (site === 'cross-site' || site === 'same-site')) {
        throw new HttpError(403, 'forbidden_origin', 'the API does not answer other sites');
      }
    },
  };
}

/** Loopback addresses only, unless the user asked for another one on purpose. */
export function isLoopbackHost(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}
