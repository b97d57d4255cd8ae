import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';
import { MAX_IMAGE_BYTES, notAnImage } from '../engine/core/image-file';
import { readImageInfo } from '../engine/core/image-info';

/** Largest reference file accepted (BFL and resellers quote 10–20 MB). */
export const MAX_REFERENCE_BYTES = MAX_IMAGE_BYTES;
/** Largest reference image side, in pixels. */
export const MAX_REFERENCE_SIDE = 8192;

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/**
 * Decodes the whole image, just before the items that use it are submitted: the pre-flight only
 * read its header, and a truncated file must fail its own items before anything is paid.
 */
async function decodeFully(bytes: Buffer, shown: string): Promise<void> {
  // Loaded when an image is read, not with the registry: `validate` and `--help` never need it.
  const { default: sharp } = await import('sharp');
  try {
    await sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_REFERENCE_SIDE * MAX_REFERENCE_SIDE }).stats();
  } catch (e) {
    throw new EngineError('invalid_input', `${shown} is damaged or incomplete (${(e as Error).message.replace(/^\w+: /, '')}); nothing was sent for it`, { param: 'source' }, { cause: e });
  }
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
  // Files and URLs are checked by the host's pre-flight (header, size, where a file may be).
  imageSources: (params) => [{ param: 'source', source: params.source }],
  async run({ params, ctx }) {
    const url = isUrl(params.source);
    const path = url ? params.source : isAbsolute(params.source) ? params.source : resolve(ctx.baseDir, params.source);
    const file = url ? { bytes: await ctx.download(params.source) } : await ctx.readImageFile(path, MAX_REFERENCE_BYTES);
    const { bytes } = file;
    const info = readImageInfo(bytes);
    if (!info) throw notAnImage(params.source, bytes);
    if (Math.max(info.width, info.height) > MAX_REFERENCE_SIDE) {
      throw new EngineError('invalid_input', `${params.source} is ${info.width}×${info.height}; sides up to ${MAX_REFERENCE_SIDE} px are accepted`, { param: 'source' });
    }
    if (!file.standIn) await decodeFully(bytes, params.source);
    const asset = await ctx.putImage(bytes, { source: params.source, ...(url ? { url: params.source } : {}) });
    return { image: { ...asset, ...info } };
  },
});
