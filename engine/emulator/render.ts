/**
 * Deterministic stand-in images: a gradient with a few shapes whose colours and positions come
 * from a hash of prompt and seed. Same inputs give byte-identical files; another seed gives a
 * visibly different picture. With an input image the output is that image, resized to the target
 * size, tinted and overlaid with the same pattern, so edits are visibly derived from it.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { Prng } from './prng';
import type { ImageFormat } from './types';

/** Everything an image is rendered from; equal specs give equal bytes. */
export interface RenderSpec {
  prompt: string;
  seed: number;
  width: number;
  height: number;
  format: ImageFormat;
  /** Encoded first input image (edits). */
  input?: Buffer;
}

/** An encoded image and its MIME type. */
export interface RenderedImage {
  bytes: Buffer;
  mime: 'image/jpeg' | 'image/png' | 'image/webp';
}

type Rgb = [number, number, number];

interface Shape {
  kind: 'circle' | 'rect';
  cx: number;
  cy: number;
  r: number;
  color: Rgb;
  alpha: number;
}

const MIME: Record<ImageFormat, RenderedImage['mime']> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

function colorFrom(prng: Prng): Rgb {
  return [prng.int(256), prng.int(256), prng.int(256)];
}

function patternFor(prompt: string, seed: number, width: number, height: number) {
  const digest = createHash('sha256').update(`${prompt}\u0000${seed}`).digest();
  const prng = new Prng(digest.readUInt32LE(0) ^ digest.readUInt32LE(4));
  const from = colorFrom(prng);
  const to = colorFrom(prng);
  const angle = prng.next() * Math.PI * 2;
  const count = 3 + prng.int(4);
  const minSide = Math.min(width, height);
  const shapes: Shape[] = [];
  for (let i = 0; i < count; i++) {
    shapes.push({
      kind: prng.next() < 0.5 ? 'circle' : 'rect',
      cx: prng.next() * width,
      cy: prng.next() * height,
      r: minSide * (0.08 + prng.next() * 0.25),
      color: colorFrom(prng),
      alpha: 0.55 + prng.next() * 0.4,
    });
  }
  return { from, to, angle, shapes };
}

function paintGradient(px: Uint8Array, width: number, height: number, from: Rgb, to: Rgb, angle: number, weight: number) {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const span = Math.abs(cos) * width + Math.abs(sin) * height || 1;
  const offset = Math.min(0, cos * width) + Math.min(0, sin * height);
  const keep = 1 - weight;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x * cos + y * sin - offset) / span;
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const g = from[c] + (to[c] - from[c]) * t;
        px[i + c] = px[i + c] * keep + g * weight;
      }
    }
  }
}

function paintShape(px: Uint8Array, width: number, height: number, s: Shape, alphaScale: number) {
  const x0 = Math.max(0, Math.floor(s.cx - s.r));
  const x1 = Math.min(width - 1, Math.ceil(s.cx + s.r));
  const y0 = Math.max(0, Math.floor(s.cy - s.r));
  const y1 = Math.min(height - 1, Math.ceil(s.cy + s.r));
  const a = s.alpha * alphaScale;
  const r2 = s.r * s.r;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (s.kind === 'circle') {
        const dx = x - s.cx;
        const dy = y - s.cy;
        if (dx * dx + dy * dy > r2) continue;
      }
      const i = (y * width + x) * 3;
      px[i] = px[i] * (1 - a) + s.color[0] * a;
      px[i + 1] = px[i + 1] * (1 - a) + s.color[1] * a;
      px[i + 2] = px[i + 2] * (1 - a) + s.color[2] * a;
    }
  }
}

/** Renders the image for a task; deterministic in all of `spec`. */
export async function renderImage(spec: RenderSpec): Promise<RenderedImage> {
  const { width, height } = spec;
  const pattern = patternFor(spec.prompt, spec.seed, width, height);
  let px: Uint8Array;
  let gradientWeight = 1;
  let shapeAlpha = 1;
  if (spec.input) {
    px = await sharp(spec.input).rotate().resize(width, height, { fit: 'cover' }).removeAlpha().raw().toBuffer();
    // Keep the input dominant so an edit is recognisably derived from it.
    gradientWeight = 0.3;
    shapeAlpha = 0.4;
  } else {
    px = new Uint8Array(width * height * 3);
  }
  paintGradient(px, width, height, pattern.from, pattern.to, pattern.angle, gradientWeight);
  for (const shape of pattern.shapes) paintShape(px, width, height, shape, shapeAlpha);

  const img = sharp(Buffer.from(px.buffer, px.byteOffset, px.byteLength), { raw: { width, height, channels: 3 } });
  const bytes =
    spec.format === 'png'
      ? await img.png({ compressionLevel: 6 }).toBuffer()
      : spec.format === 'webp'
        ? await img.webp({ quality: 90 }).toBuffer()
        : await img.jpeg({ quality: 90 }).toBuffer();
  return { bytes, mime: MIME[spec.format] };
}
