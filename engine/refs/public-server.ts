/**
 * Way 4 of issue 10: fluxgraph's own server hands a URL-only provider a local image, for users
 * with a tunnel (FLUXGRAPH_PUBLIC_URL, default FLUXGRAPH_CALLBACK_URL, forwarding to the callback
 * receiver). Links are `/refs/<hash>?exp=<unix s>&sig=<HMAC-SHA256(key, hash.exp)>` with a key
 * made per process, valid at most one hour, for images a run handed out only: no listing, nothing
 * outside the store, and a bad or expired signature is refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readImageInfo } from '../core/image-info';
import type { ArtifactStore } from '../core/store';
import type { PublicReferenceServer } from './delivery';

/** The longest a link may live (issue 10). */
export const MAX_LINK_TTL_MS = 60 * 60_000;
const PATH = /^\/refs\/([0-9a-f]{64})$/;

export class PublicReferenceLinks implements PublicReferenceServer {
  private readonly key = randomBytes(32);
  /** Images handed out, and the store each lives in. */
  private readonly allowed = new Map<string, ArtifactStore>();
  private readonly ttlMs: number;

  constructor(
    /** Public base URL that forwards to the receiver serving `handle`. */
    readonly baseUrl: string,
    ttlMs = MAX_LINK_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.ttlMs = Math.min(Math.max(ttlMs, 60_000), MAX_LINK_TTL_MS);
  }

  link(hash: string, store: ArtifactStore): { url: string; expiresAt: number } {
    this.allowed.set(hash, store);
    const exp = Math.floor((this.now() + this.ttlMs) / 1000);
    return { url: `${this.baseUrl.replace(/\/+$/, '')}/refs/${hash}?exp=${exp}&sig=${this.sign(hash, exp)}`, expiresAt: exp * 1000 };
  }

  /** Serves `/refs/...`; false for any other path (the receiver handles it). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://receiver.invalid');
    if (!url.pathname.startsWith('/refs/')) return false;
    void this.serve(req.method ?? 'GET', url, res);
    return true;
  }

  private async serve(method: string, url: URL, res: ServerResponse): Promise<void> {
    const refuse = (status: number, error: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
    const m = PATH.exec(url.pathname);
    if (method !== 'GET' && method !== 'HEAD') return void refuse(405, 'method not allowed');
    if (!m) return void refuse(404, 'not found');
    const hash = m[1];
    const expText = url.searchParams.get('exp') ?? '';
    const sig = url.searchParams.get('sig') ?? '';
    const exp = /^\d{1,12}$/.test(expText) ? Number(expText) : NaN;
    if (!Number.isFinite(exp) || !this.verify(hash, exp, sig)) return void refuse(403, 'bad signature');
    const nowSec = this.now() / 1000;
    if (exp < nowSec) return void refuse(403, 'link expired');
    if (exp > nowSec + MAX_LINK_TTL_MS / 1000 + 5) return void refuse(403, 'link lives too long');
    const store = this.allowed.get(hash);
    if (!store) return void refuse(404, 'not found');
    let bytes: Buffer;
    try {
      bytes = await store.read(hash);
    } catch {
      return void refuse(404, 'not found');
    }
    const mime = readImageInfo(bytes)?.mime ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': mime, 'content-length': bytes.length, 'cache-control': 'private, no-store' });
    res.end(method === 'HEAD' ? undefined : bytes);
  }

  private sign(hash: string, exp: number): string {
    return createHmac('sha256', this.key).update(`${hash}.${exp}`).digest('base64url');
  }

  private verify(hash: string, exp: number, sig: string): boolean {
    const want = Buffer.from(this.sign(hash, exp));
    const got = Buffer.from(sig);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
