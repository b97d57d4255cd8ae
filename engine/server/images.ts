/**
 * Images by hash from the artifact store, and WebP thumbnails made with sharp and cached on
 * disk. A hash names its bytes forever, so both are cached by the browser as immutable.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ArtifactStore } from '../core/store';
import { BASE_HEADERS, HttpError } from './http-util';

const HASH = /^[0-9a-f]{64}$/;
const IMMUTABLE = 'private, max-age=31536000, immutable';
export const THUMB_SIZES = { min: 32, max: 512, default: 160 };

/** The image type from its first bytes (the store keeps bytes only). */
export function sniffMime(head: Buffer): string | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (head.length >= 12 && head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

export class ImageService {
  private readonly making = new Map<string, Promise<Buffer>>();

  constructor(
    readonly store: ArtifactStore,
    private readonly thumbDir: string,
  ) {}

  private async existing(hash: string): Promise<{ path: string; size: number }> {
    if (!HASH.test(hash)) throw new HttpError(400, 'invalid_hash', 'an image hash is 64 lowercase hex characters');
    if (!(await this.store.has(hash))) throw new HttpError(404, 'image_not_found', `no image ${hash.slice(0, 12)}… in the store`);
    const path = this.store.pathOf(hash);
    return { path, size: (await stat(path)).size };
  }

  async serveImage(req: IncomingMessage, res: ServerResponse, hash: string): Promise<void> {
    const { path, size } = await this.existing(hash);
    const etag = `"${hash}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ...BASE_HEADERS, etag, 'cache-control': IMMUTABLE });
      res.end();
      return;
    }
    const fh = await open(path, 'r');
    const head = Buffer.alloc(16);
    try {
      await fh.read(head, 0, 16, 0);
    } finally {
      await fh.close();
    }
    const mime = sniffMime(head);
    if (!mime) throw new HttpError(415, 'not_an_image', `artifact ${hash.slice(0, 12)}… is not a JPEG, PNG or WebP image`);
    res.writeHead(200, { ...BASE_HEADERS, 'content-type': mime, 'content-length': size, etag, 'cache-control': IMMUTABLE });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(path).pipe(res);
  }

  /** Thumbnail bytes (WebP, fitting in size×size), made once per hash and size. */
  async thumbnail(hash: string, size: number): Promise<Buffer> {
    const { path } = await this.existing(hash);
    const file = join(this.thumbDir, hash.slice(0, 2), `${hash}-${size}.webp`);
    try {
      return await readFile(file);
    } catch {
      // not made yet
    }
    const key = `${hash}-${size}`;
    let job = this.making.get(key);
    if (!job) {
      job = (async () => {
        const bytes = await sharp(path).rotate().resize(size, size, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 78 }).toBuffer();
        await mkdir(join(this.thumbDir, hash.slice(0, 2)), { recursive: true });
        const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        await writeFile(tmp, bytes);
        await rename(tmp, file);
        return bytes;
      })().finally(() => this.making.delete(key));
      this.making.set(key, job);
    }
    return job;
  }

  async serveThumbnail(req: IncomingMessage, res: ServerResponse, hash: string, sizeParam: string | null): Promise<void> {
    const requested = sizeParam === null ? THUMB_SIZES.default : Number(sizeParam);
    if (!Number.isInteger(requested)) throw new HttpError(400, 'invalid_size', 'size must be a whole number of pixels');
    const size = Math.min(THUMB_SIZES.max, Math.max(THUMB_SIZES.min, requested));
    const etag = `"${hash}-${size}"`;
    if (req.headers['if-none-match'] === etag) {
      await this.existing(hash);
      res.writeHead(304, { ...BASE_HEADERS, etag, 'cache-control': IMMUTABLE });
      res.end();
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await this.thumbnail(hash, size);
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(415, 'not_an_image', `could not make a thumbnail of ${hash.slice(0, 12)}…: ${(e as Error).message}`);
    }
    res.writeHead(200, { ...BASE_HEADERS, 'content-type': 'image/webp', 'content-length': bytes.length, etag, 'cache-control': IMMUTABLE });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }
}
