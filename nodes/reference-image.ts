import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Metadata } from 'sharp';
import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';
import type { ImageAsset } from '../engine/core/ports';

/** Largest reference file accepted (BFL and resellers quote 10–20 MB). */
export const MAX_REFERENCE_BYTES = 20 * 1024 * 1024;
/** Largest reference image side, in pixels. */
export const MAX_REFERENCE_SIDE = 8192;

const MIME: Record<string, ImageAsset['mime']> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

const isUrl = (s: string) => /^https?:\/\//i.test(s);

async function load(source: string, baseDir: string, signal: AbortSignal): Promise<Buffer> {
  if (isUrl(source)) {
    let res: Response;
    try {
      res = await fetch(source, { signal });
    } catch (e) {
      throw new EngineError('network', `could not download ${source}: ${(e as Error).message}`, { param: 'source' }, { cause: e });
    }
    if (!res.ok) throw new EngineError('invalid_input', `could not download ${source}: HTTP ${res.status}`, { param: 'source' });
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_REFERENCE_BYTES) throw tooBig(length);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_REFERENCE_BYTES) throw tooBig(bytes.length);
    return bytes;
  }
  const path = isAbsolute(source) ? source : resolve(baseDir, source);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new EngineError('invalid_input', `file not found: ${path}`, { param: 'source' });
  }
  if (size > MAX_REFERENCE_BYTES) throw tooBig(size);
  return readFile(path);
}

function tooBig(bytes: number): EngineError {
  return new EngineError('invalid_input', `image is ${(bytes / 1048576).toFixed(1)} MB; the limit is ${MAX_REFERENCE_BYTES / 1048576} MB`, { param: 'source' });
}

/** A local file (relative to the pipeline file) or an http(s) URL; JPEG, PNG or WebP. */
export const referenceImageNode = defineNode({
  type: 'reference-image',
  title: 'Reference image',
  description: 'A JPEG, PNG or WebP image from a file (relative to the pipeline file) or an http(s) URL.',
  version: 1,
  category: 'input',
  inputs: {},
  outputs: { image: { kind: 'image' } },
  params: z.strictObject({
    source: z.string().min(1).describe('File path (relative to the pipeline file) or http(s) URL'),
  }),
  imageSource: (params) => (isUrl(params.source) ? 'url' : 'local'),
  check(params, env) {
    if (isUrl(params.source) || !env.baseDir) return [];
    const path = isAbsolute(params.source) ? params.source : resolve(env.baseDir, params.source);
    return existsSync(path) ? [] : [{ code: 'invalid_input', param: 'source', message: `param "source": file not found: ${path}` }];
  },
  async run({ params, ctx }) {
    const bytes = await load(params.source, ctx.baseDir, ctx.signal);
    let info: Metadata;
    // Loaded when an image is read, not with the registry: `validate` and `--help` never need it.
    const { default: sharp } = await import('sharp');
    try {
      info = await sharp(bytes).metadata();
    } catch {
      throw new EngineError('invalid_input', `${params.source} is not an image (JPEG, PNG or WebP expected)`, { param: 'source' });
    }
    const mime = info.format ? MIME[info.format] : undefined;
    if (!mime || !info.width || !info.height) {
      throw new EngineError('invalid_input', `${params.source} is ${info.format ?? 'an unknown format'}; JPEG, PNG or WebP expected`, { param: 'source' });
    }
    if (Math.max(info.width, info.height) > MAX_REFERENCE_SIDE) {
      throw new EngineError('invalid_input', `${params.source} is ${info.width}×${info.height}; sides up to ${MAX_REFERENCE_SIDE} px are accepted`, { param: 'source' });
    }
    const asset = await ctx.putImage(bytes, { source: params.source, ...(isUrl(params.source) ? { url: params.source } : {}) });
    return { image: { ...asset, mime, width: info.width, height: info.height } };
  },
});
