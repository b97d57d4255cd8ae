/**
 * Reference delivery for providers that only take URLs (kie, novita, crun), issue 10. For each
 * reference, at the moment of the submit, the first way that applies:
 *   1. a URL the user gave, or a URL recorded in the ledger that stays valid long enough (a
 *      provider's result URL, an earlier upload or bucket object);
 *   2. the provider's upload API (kie.ai), once per image;
 *   3. the user's S3-compatible bucket (FLUXGRAPH_REFERENCE_BUCKET), by content hash, presigned;
 *   4. fluxgraph's own server at FLUXGRAPH_PUBLIC_URL, a signed link;
 *   5. otherwise `needs_public_url`, listing these ways.
 * Ways 2 to 4 make a local image fetchable by others for a while: said once per run.
 */
import { EngineError } from '../core/errors';
import type { Provider, ReferenceImage } from '../core/provider';
import { hostOfUrl, type DeliveredReference, type DeliveryRoute, type ReferenceResolver } from '../core/references';
import type { ArtifactStore } from '../core/store';
import type { ReferenceUrl, ReferenceUrlStore, StoredUrlRoute } from '../store/reference-urls';
import { ASSUMED_RESULT_LIFETIME_MS } from '../providers/result-expiry';

/** A bucket (engine/store/s3.ts) as delivery uses it. */
export interface ReferenceBucket {
  /** `s3://bucket/prefix`, for messages. */
  readonly location: string;
  /** Stores the bytes under their hash (once) and returns a presigned GET URL and its expiry. */
  publish(hash: string, bytes: Buffer, mime: string): Promise<{ url: string; expiresAt: number }>;
}

/** fluxgraph's own server (engine/refs/public-server.ts) as delivery uses it. */
export interface PublicReferenceServer {
  /** A signed link to `hash`, served from `store` until it expires. */
  link(hash: string, store: ArtifactStore): { url: string; expiresAt: number };
}

export interface DeliveryOptions {
  urls: ReferenceUrlStore;
  /** Where links of fluxgraph's own server read from (required with `publicServer`). */
  store?: ArtifactStore;
  /** A URL must stay valid this long after the submit to be passed on (default 5 min). */
  minValidMs?: number;
  /** False (FLUXGRAPH_REFERENCE_UPLOADS=off): ways 2 to 4 are off. */
  uploads?: boolean;
  bucket?: ReferenceBucket;
  publicServer?: PublicReferenceServer;
  /** Set when the providers are the embedded emulator: its URLs die with this process. */
  session?: string;
}

export const DEFAULT_MIN_VALID_MS = 5 * 60_000;

/** The ways a provider can be given a local image, for pre-flight planning and messages. */
export interface RouteAvailability {
  upload: boolean;
  bucket: boolean;
  publicServer: boolean;
  uploadsOff: boolean;
}

export class ReferenceDelivery implements ReferenceResolver {
  private readonly minValidMs: number;
  private warned = false;
  /** Uploads and bucket puts in progress, so one image is sent once however many items use it. */
  private readonly publishing = new Map<string, Promise<{ url: string; expiresAt: number; route: DeliveryRoute }>>();

  constructor(private readonly o: DeliveryOptions) {
    this.minValidMs = o.minValidMs ?? DEFAULT_MIN_VALID_MS;
  }

  /** Which of ways 2 to 4 a provider has here. */
  availability(provider: Pick<Provider, 'uploadReference'>): RouteAvailability {
    const on = this.o.uploads !== false;
    return { upload: on && provider.uploadReference !== undefined, bucket: on && this.o.bucket !== undefined, publicServer: on && this.o.publicServer !== undefined, uploadsOff: !on };
  }

  produced(hash: string, provider: string, url: string, expiresAt: number | undefined): void {
    if (!/^https?:\/\//i.test(url)) return;
    this.o.urls.record({
      hash,
      provider,
      url,
      expiresAt: expiresAt ?? Date.now() + ASSUMED_RESULT_LIFETIME_MS,
      route: 'provider-url',
      ...(this.o.session ? { session: this.o.session } : {}),
    });
  }

  async resolve(provider: Provider, refs: readonly ReferenceImage[], call: { signal: AbortSignal; onWarning?: (message: string) => void }) {
    const delivered: DeliveredReference[] = [];
    const out: ReferenceImage[] = [];
    for (const [i, ref] of refs.entries()) {
      const got = await this.one(provider, ref, i, call);
      out.push({ ...ref, url: got.url });
      delivered.push({ hash: ref.asset.hash, route: got.route, ...(hostOfUrl(got.url) ? { host: hostOfUrl(got.url) } : {}) });
    }
    return { refs: out, delivered };
  }

  private async one(provider: Provider, ref: ReferenceImage, index: number, call: { signal: AbortSignal; onWarning?: (message: string) => void }): Promise<{ url: string; route: DeliveryRoute }> {
    if (ref.url && /^https?:\/\//i.test(ref.url)) return { url: ref.url, route: 'given-url' };
    const hash = ref.asset.hash;
    const validAt = Date.now() + this.minValidMs;
    const known = this.o.urls.find(hash, validAt, this.o.session)[0];
    if (known) return { url: known.url, route: known.route };

    const can = this.availability(provider);
    if (!can.upload && !can.bucket && !can.publicServer) throw undeliverable(provider, ref, index, can);
    this.warnOnce(call.onWarning);
    if (can.upload) return this.publishOnce(`upload:${provider.id}:${hash}`, 'upload', provider.id, async () => provider.uploadReference!({ bytes: await ref.read(), mime: ref.asset.mime, hash }, call.signal));
    if (can.bucket) return this.publishOnce(`bucket:${hash}`, 'bucket', 'bucket', async () => this.o.bucket!.publish(hash, await ref.read(), ref.asset.mime));
    if (!this.o.store) throw new EngineError('internal', 'reference delivery: a public server link needs the artifact store');
    const link = this.o.publicServer!.link(hash, this.o.store);
    return { url: link.url, route: 'public-server' };
  }

  private publishOnce(key: string, route: StoredUrlRoute, owner: string, send: () => Promise<{ url: string; expiresAt: number }>) {
    let p = this.publishing.get(key);
    if (!p) {
      p = send().then((r) => {
        const row: ReferenceUrl = { hash: key.slice(key.lastIndexOf(':') + 1), provider: owner, url: r.url, expiresAt: r.expiresAt, route };
        this.o.urls.record(row);
        return { url: r.url, expiresAt: r.expiresAt, route };
      });
      this.publishing.set(key, p);
      // A failed upload may be tried again by the next item; a finished one is found in the table.
      void p.then(
        () => this.publishing.delete(key),
        () => this.publishing.delete(key),
      );
    }
    return p;
  }

  private warnOnce(warn: ((message: string) => void) | undefined): void {
    if (this.warned) return;
    this.warned = true;
    warn?.(
      'a local reference image is being made fetchable by others for a while (kie.ai keeps uploads 1 to 3 days; bucket and fluxgraph-server links expire); set FLUXGRAPH_REFERENCE_UPLOADS=off to never do that',
    );
  }
}

/** The ways to give a URL-only provider a local image, as sentences for the error. */
export function waysToDeliver(provider: { id: string; title: string }, can: RouteAvailability): string[] {
  const ways = [
    'use an image a provider made in this run (its result URL is passed on while valid)',
    'give the reference-image node a public http(s) URL as its source',
    ...(provider.id === 'kie' ? [] : ["run this node on kie (its upload API takes local images) or on bfl (it takes image bytes)"]),
    'set FLUXGRAPH_REFERENCE_BUCKET=s3://bucket/prefix (an S3-compatible bucket; AWS_REGION, AWS_ENDPOINT_URL_S3 and FLUXGRAPH_S3_PATH_STYLE=1 as needed; credentials from the AWS environment)',
    'set FLUXGRAPH_PUBLIC_URL to a public https URL (a tunnel) that forwards to this machine\'s fluxgraph callback port (FLUXGRAPH_CALLBACK_PORT)',
  ];
  if (can.uploadsOff) ways.push('or remove FLUXGRAPH_REFERENCE_UPLOADS=off, which turns uploads, buckets and public links off');
  return ways;
}

function undeliverable(provider: Provider, ref: ReferenceImage, index: number, can: RouteAvailability): EngineError {
  const name = ref.asset.meta?.source ? ` ("${ref.asset.meta.source}")` : ref.asset.meta?.nodeId ? ` (from node "${ref.asset.meta.nodeId}")` : '';
  const why = ref.asset.meta?.provider ? `its ${ref.asset.meta.provider} result URL has expired or expires within minutes` : 'it is a local image';
  return new EngineError(
    'needs_public_url',
    `${provider.title} takes reference images only as public URLs, and reference ${index + 1}${name} has none (${why}); nothing was submitted for this item. Ways to give it one: ${waysToDeliver(provider, can).join('; ')}`,
    { provider: provider.id, param: 'references', item: index, retryable: false },
  );
}
