/**
 * How a reference image reaches a provider that only takes URLs (issue 10). The core only knows
 * this seam; engine/refs/ decides the route (provider result URL, upload API, bucket, public
 * server) and keeps the URLs in the ledger.
 */
import type { Provider, ReferenceImage } from './provider';

/** How one reference was handed over. `bytes`: sent inline (BFL). */
export type DeliveryRoute = 'given-url' | 'provider-url' | 'upload' | 'bucket' | 'public-server' | 'bytes';

/** What sidecars and run summaries record: the route and the host, never a query string or key. */
export interface DeliveredReference {
  hash: string;
  route: DeliveryRoute;
  /** Host the URL pointed at (no path, no query). */
  host?: string;
}

export interface ReferenceResolver {
  /**
   * A public URL for each reference, chosen at the moment of the submit. Throws `needs_public_url`
   * (naming the reference and listing the ways to give it one) when none can be had.
   */
  resolve(provider: Provider, refs: readonly ReferenceImage[], call: { signal: AbortSignal; onWarning?: (message: string) => void }): Promise<{ refs: ReferenceImage[]; delivered: DeliveredReference[] }>;
  /** A provider produced this image and served it at `url` until `expiresAt`. */
  produced(hash: string, provider: string, url: string, expiresAt: number | undefined): void;
}

export function hostOfUrl(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
