/**
 * When a provider's result URL stops working. Providers that publish it say so in the response
 * (novita `image_url_ttl`) or in the signed URL itself (Azure SAS `se=`, S3 `X-Amz-Date` +
 * `X-Amz-Expires`, S3 v2 `Expires=`); for the others (kie, crun) we assume 10 minutes after
 * completion (issue 10), which is BFL's documented lifetime and the shortest any of them has.
 */
export const ASSUMED_RESULT_LIFETIME_MS = 10 * 60_000;

/** Expiry encoded in a signed URL, epoch ms; undefined when the URL carries none. */
export function expiryInUrl(url: string): number | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const q = u.searchParams;
  const se = q.get('se');
  if (se) {
    const t = Date.parse(se);
    if (Number.isFinite(t)) return t;
  }
  const amzDate = q.get('X-Amz-Date');
  const amzExpires = q.get('X-Amz-Expires');
  if (amzDate && amzExpires && /^\d{8}T\d{6}Z$/.test(amzDate)) {
    const iso = `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`;
    const t = Date.parse(iso) + Number(amzExpires) * 1000;
    if (Number.isFinite(t)) return t;
  }
  const expires = q.get('Expires');
  if (expires && /^\d{9,11}$/.test(expires)) return Number(expires) * 1000;
  return undefined;
}

/** The expiry to record for a result URL obtained at `now`. */
export function resultUrlExpiry(url: string, now: number, ttlSec?: number): number {
  if (ttlSec !== undefined && Number.isFinite(ttlSec) && ttlSec > 0) return now + ttlSec * 1000;
  return expiryInUrl(url) ?? now + ASSUMED_RESULT_LIFETIME_MS;
}
