/**
 * Reference delivery as a host (CLI, server) sets it up from the environment:
 * FLUXGRAPH_REFERENCE_MIN_VALID_SEC (default 300: a URL is passed on only while it stays valid
 * that long), FLUXGRAPH_REFERENCE_UPLOADS=off (no uploads, buckets or public links).
 */
import { EngineError } from '../core/errors';
import type { ArtifactStore } from '../core/store';
import type { HostProviders } from '../host/create-providers';
import type { Ledger } from '../store/ledger';
import { MemoryReferenceUrls, SqliteReferenceUrls, type ReferenceUrlStore } from '../store/reference-urls';
import { s3Store } from '../store/s3';
import { DEFAULT_BUCKET_URL_TTL_SEC, S3ReferenceBucket } from './bucket';
import { DEFAULT_MIN_VALID_MS, ReferenceDelivery, type ReferenceBucket, type PublicReferenceServer } from './delivery';

export interface ReferenceSettings {
  minValidMs: number;
  uploads: boolean;
}

export function referenceSettings(env: Record<string, string | undefined>): ReferenceSettings {
  const raw = env.FLUXGRAPH_REFERENCE_MIN_VALID_SEC?.trim();
  let minValidMs = DEFAULT_MIN_VALID_MS;
  if (raw) {
    const sec = Number(raw);
    if (!Number.isFinite(sec) || sec < 0) throw new EngineError('usage', `FLUXGRAPH_REFERENCE_MIN_VALID_SEC=${raw}: expected seconds (0 or more)`);
    minValidMs = sec * 1000;
  }
  const off = /^(off|0|false|no)$/i.test(env.FLUXGRAPH_REFERENCE_UPLOADS?.trim() ?? '');
  return { minValidMs, uploads: !off };
}

const urlStores = new WeakMap<Ledger, ReferenceUrlStore>();

/** The ledger's URL table (created on first use), or a per-process one without a ledger. */
export function referenceUrlsOf(ledger: Ledger | undefined): ReferenceUrlStore {
  if (!ledger) return new MemoryReferenceUrls();
  let s = urlStores.get(ledger);
  if (!s) urlStores.set(ledger, (s = new SqliteReferenceUrls(ledger.db)));
  return s;
}

export interface ReferenceHostOptions {
  env: Record<string, string | undefined>;
  host: Pick<HostProviders, 'session' | 'publicRefs'>;
  /** Needed to serve links from fluxgraph's own server; pre-flight planning goes without. */
  store?: ArtifactStore;
  ledger?: Ledger;
  urls?: ReferenceUrlStore;
  bucket?: ReferenceBucket;
  publicServer?: PublicReferenceServer;
}

/** The reference bucket of FLUXGRAPH_REFERENCE_BUCKET, if set (its SDK loads on first upload). */
export function referenceBucketOf(env: Record<string, string | undefined>): ReferenceBucket | undefined {
  const url = env.FLUXGRAPH_REFERENCE_BUCKET?.trim();
  if (!url) return undefined;
  const raw = env.FLUXGRAPH_REFERENCE_URL_TTL_SEC?.trim();
  const ttl = raw ? Number(raw) : DEFAULT_BUCKET_URL_TTL_SEC;
  if (!Number.isFinite(ttl) || ttl < 60 || ttl > 7 * 24 * 3600) throw new EngineError('usage', `FLUXGRAPH_REFERENCE_URL_TTL_SEC=${raw}: expected seconds from 60 to 604800`);
  return new S3ReferenceBucket(s3Store(url, env), ttl);
}

/** One per run: it says once per run that a local image was made fetchable. */
export function createReferenceDelivery(o: ReferenceHostOptions): ReferenceDelivery {
  const settings = referenceSettings(o.env);
  const bucket = o.bucket ?? referenceBucketOf(o.env);
  return new ReferenceDelivery({
    urls: o.urls ?? referenceUrlsOf(o.ledger),
    ...(o.store ? { store: o.store } : {}),
    minValidMs: settings.minValidMs,
    uploads: settings.uploads,
    ...(bucket ? { bucket } : {}),
    ...((o.publicServer ?? o.host.publicRefs) ? { publicServer: (o.publicServer ?? o.host.publicRefs)! } : {}),
    ...(o.host.session ? { session: o.host.session } : {}),
  });
}
