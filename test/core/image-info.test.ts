import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readImageInfo } from '../../engine/core/image-info';

const image = (format: 'png' | 'jpeg' | 'webp', lossless = false) =>
  sharp({ create: { width: 48, height: 32, channels: 3, background: '#123456' } })
    .toFormat(format, format === 'webp' ? { lossless } : {})
    .toBuffer();

describe('readImageInfo', () => {
  it.each([
    ['png', false, 'image/png'],
    ['jpeg', false, 'image/jpeg'],
    ['webp', false, 'image/webp'],
    ['webp', true, 'image/webp'],
  ] as const)('reads the size of a %s (lossless %s) from its header', async (format, lossless, mime) => {
    expect(readImageInfo(await image(format, lossless))).toEqual({ mime, width: 48, height: 32 });
  });

  it('returns undefined for bytes that are not an image', () => {
    expect(readImageInfo(Buffer.from('GIF89a not supported here'))).toBeUndefined();
  });
});
