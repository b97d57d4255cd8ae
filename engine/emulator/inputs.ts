/**
 * Input images as the providers receive them: an http(s) URL the provider fetches itself, or
 * (BFL, novita) base64, raw or as a data URI.
 */
import sharp from 'sharp';

/** A decoded input image: its bytes and oriented size. */
export interface LoadedImage {
  bytes: Buffer;
  width: number;
  height: number;
}

/** Why an input image could not be used; `kind` lets each provider pick its own error. */
export class InputImageError extends Error {
  constructor(
    readonly kind: 'fetch' | 'format' | 'too_large' | 'not_url',
    message: string,
  ) {
    super(message);
  }
}

/** What a provider accepts for input images. */
export interface LoadOptions {
  allowBase64: boolean;
  maxBytes: number;
  timeoutMs?: number;
}

export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

async function fetchBytes(url: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new InputImageError('fetch', `could not fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new InputImageError('fetch', `could not fetch ${url}: HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > maxBytes) throw new InputImageError('too_large', `image at ${url} exceeds ${maxBytes} bytes`);
  return bytes;
}

function decodeBase64(src: string, maxBytes: number): Buffer {
  const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(src);
  const payload = m ? m[3] : src;
  if (!/^[A-Za-z0-9+/=_\-\s]+$/.test(payload)) throw new InputImageError('format', 'input image is neither a URL nor valid base64');
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > maxBytes) throw new InputImageError('too_large', `input image exceeds ${maxBytes} bytes`);
  return bytes;
}

export async function loadImage(src: string, opts: LoadOptions): Promise<LoadedImage> {
  let bytes: Buffer;
  if (isHttpUrl(src)) bytes = await fetchBytes(src, opts.maxBytes, opts.timeoutMs ?? 15_000);
  else if (!opts.allowBase64) throw new InputImageError('not_url', 'input images must be http(s) URLs');
  else bytes = decodeBase64(src, opts.maxBytes);
  try {
    const meta = await sharp(bytes).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
    const rotated = (meta.orientation ?? 1) >= 5;
    return { bytes, width: rotated ? meta.height : meta.width, height: rotated ? meta.width : meta.height };
  } catch {
    throw new InputImageError('format', 'input image could not be decoded (jpeg, png, webp or gif expected)');
  }
}

export async function loadImages(srcs: string[], opts: LoadOptions): Promise<LoadedImage[]> {
  return Promise.all(srcs.map((s) => loadImage(s, opts)));
}
