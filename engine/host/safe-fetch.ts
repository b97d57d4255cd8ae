/**
 * Downloads of URLs that come from pipeline documents (reference images). A pipeline is data a
 * stranger may have written, so by default a download may only reach public addresses: the host
 * is resolved once, every address is checked (loopback, private, link-local, unique-local,
 * metadata, IPv4-mapped IPv6 included), the connection goes to the checked address with no second
 * DNS lookup, and every redirect is checked again. Bodies are capped while they stream and the
 * whole download has a time limit.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { EngineError } from '../core/errors';

export const DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024;
export const DOWNLOAD_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}
/** Resolves a host name to every address it has (injectable: tests never touch real DNS). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

export interface SafeFetchOptions {
  signal?: AbortSignal;
  maxBytes?: number;
  timeoutMs?: number;
  /** `--allow-private-urls` / `settings.allowPrivateUrls`: any address is fine. */
  allowPrivate?: boolean;
  /** Origins (`http://127.0.0.1:8787`) that may be reached whatever their address: the embedded emulator, configured provider base URLs. */
  allowedOrigins?: readonly string[];
  resolver?: Resolver;
}

export interface Downloaded {
  bytes: Buffer;
  contentType?: string;
  /** The URL the bytes came from, after redirects. */
  url: string;
}

type Range = [string, number, 'ipv4' | 'ipv6'];
const RANGES: Record<string, Range[]> = {
  loopback: [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']],
  unspecified: [['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']],
  'cloud metadata': [['169.254.169.254', 32, 'ipv4'], ['fd00:ec2::254', 128, 'ipv6'], ['100.100.100.200', 32, 'ipv4']],
  'link-local': [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']],
  private: [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['198.18.0.0', 15, 'ipv4']],
  'unique-local': [['fc00::', 7, 'ipv6'], ['fec0::', 10, 'ipv6']],
  multicast: [['224.0.0.0', 4, 'ipv4'], ['ff00::', 8, 'ipv6']],
  reserved: [['240.0.0.0', 4, 'ipv4']],
};
const LISTS = Object.entries(RANGES).map(([kind, ranges]) => {
  const list = new BlockList();
  for (const [net, prefix, type] of ranges) list.addSubnet(net, prefix, type);
  return { kind, list };
});

/** IPv4 embedded in IPv6 forms that reach an IPv4 host (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96). */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2], 16);
  const lo = parseInt(m[3], 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** Why an address is not public ("loopback", "private", ...), or undefined when it is public. */
export function nonPublicKind(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = embeddedIpv4(bare);
  const ip = v4 ?? bare;
  const family = isIP(ip);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return LISTS.find((l) => l.list.check(ip, type))?.kind;
}

function refuse(message: string, details: Record<string, unknown> = {}): EngineError {
  return new EngineError('invalid_input', message, { param: 'source', ...details });
}

/** The address to connect to for `url`, after checking it; undefined host = the literal in the URL. */
async function checkedAddress(url: URL, o: SafeFetchOptions): Promise<ResolvedAddress> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host);
  const addresses = literal ? [{ address: host, family: literal as 4 | 6 }] : await (o.resolver ?? systemResolver)(host).catch((e: Error) => {
    throw refuse(`could not download ${url.href}: cannot resolve ${host} (${(e as { code?: string }).code ?? e.message})`);
  });
  if (!addresses.length) throw refuse(`could not download ${url.href}: ${host} has no address`);
  if (o.allowPrivate || (o.allowedOrigins ?? []).includes(url.origin)) return addresses[0];
  for (const a of addresses) {
    const kind = nonPublicKind(a.address);
    if (kind) {
      throw refuse(
        `refusing to download ${url.href}: ${host}${literal ? '' : ` resolves to ${a.address}, which`} is a ${kind} address; reference URLs must be public (pass --allow-private-urls or set settings.allowPrivateUrls to allow it)`,
        { address: a.address },
      );
    }
  }
  return addresses[0];
}

function parseUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw refuse(`"${raw}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse(`${url.protocol.slice(0, -1)} URLs are not allowed (http and https only): ${url.href}`);
  if (url.username || url.password) throw refuse(`URLs with a user name or password are not allowed: ${url.protocol}//${url.host}${url.pathname}`);
  return url;
}

/** One GET to the checked address; resolves with the response head (the body is read by the caller). */
function get(url: URL, to: ResolvedAddress, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: 'GET',
        headers: { accept: 'image/jpeg, image/png, image/webp' },
        signal,
        // Connect to the address that was checked: a second lookup could answer differently.
        lookup: (_host, opts, cb) => {
          if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: to.address, family: to.family }]);
          else cb(null, to.address, to.family);
        },
      },
      resolve,
    );
    req.on('error', reject);
    req.end();
  });
}

/** Downloads `raw` under the address rules, the byte cap and the time limit. */
export async function safeFetch(raw: string, o: SafeFetchOptions = {}): Promise<Downloaded> {
  const maxBytes = o.maxBytes ?? DOWNLOAD_MAX_BYTES;
  const timeoutMs = o.timeoutMs ?? DOWNLOAD_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  let url = parseUrl(raw);
  const tooSlow = () => refuse(`could not download ${raw}: no complete answer within ${timeoutMs / 1000} s`);
  try {
    for (let hop = 0; ; hop++) {
      const to = await checkedAddress(url, o);
      const res = await get(url, to, signal);
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw refuse(`could not download ${raw}: more than ${MAX_REDIRECTS} redirects`);
        url = parseUrl(res.headers.location, url);
        continue;
      }
      if (status < 200 || status >= 300) {
        res.resume();
        throw refuse(`could not download ${url.href}: HTTP ${status}`, { httpStatus: status });
      }
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > maxBytes) {
        res.destroy();
        throw tooBig(url.href, length, maxBytes);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy();
          throw tooBig(url.href, size, maxBytes, true);
        }
        chunks.push(chunk);
      }
      const contentType = res.headers['content-type'];
      return { bytes: Buffer.concat(chunks), url: url.href, ...(contentType ? { contentType } : {}) };
    }
  } catch (e) {
    if (e instanceof EngineError) throw e;
    if (o.signal?.aborted) throw new EngineError('aborted', 'the run was cancelled', {}, { cause: e });
    if (timeout.aborted) throw tooSlow();
    throw new EngineError('network', `could not download ${url.href}: ${(e as { code?: string }).code ?? (e as Error).message}`, { param: 'source' }, { cause: e });
  }
}

function tooBig(url: string, bytes: number, max: number, streaming = false): EngineError {
  return refuse(`could not download ${url}: ${streaming ? 'more than ' : ''}${(bytes / 1048576).toFixed(1)} MB; the limit is ${max / 1048576} MB`);
}
