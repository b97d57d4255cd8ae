/**
 * Way 3 of issue 10: the user's S3-compatible bucket (FLUXGRAPH_REFERENCE_BUCKET). An image is
 * stored once under its content hash and handed over as a presigned GET URL that expires
 * (FLUXGRAPH_REFERENCE_URL_TTL_SEC, default 15 minutes).
 */
import type { S3ObjectStore } from '../store/s3';
import type { ReferenceBucket } from './delivery';

export const DEFAULT_BUCKET_URL_TTL_SEC = 15 * 60;

const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

export class S3ReferenceBucket implements ReferenceBucket {
  constructor(
    private readonly store: S3ObjectStore,
    private readonly ttlSec = DEFAULT_BUCKET_URL_TTL_SEC,
  ) {}

  get location(): string {
    return this.store.location;
  }

  async publish(hash: string, bytes: Buffer, mime: string): Promise<{ url: string; expiresAt: number }> {
    const key = `${hash}.${EXT[mime] ?? 'bin'}`;
    // Content-addressed: an object that is there already is these very bytes.
    if (!(await this.store.exists(key))) await this.store.put(key, bytes, mime);
    const at = Date.now();
    const url = await this.store.presignGet(key, this.ttlSec);
    return { url, expiresAt: at + this.ttlSec * 1000 };
  }
}
