import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { bflCost, crunCredits, kieCredits } from '../../engine/emulator/pricing';
import { renderImage } from '../../engine/emulator/render';
import { aspectSize, bflSize, parseStarSize } from '../../engine/emulator/sizes';
import { solidPng } from './helpers';

async function pixels(bytes: Buffer) {
  return sharp(bytes).removeAlpha().raw().toBuffer();
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe('renderImage', () => {
  it('is byte-identical for the same prompt, seed, size and format', async () => {
    const spec = { prompt: 'a lighthouse', seed: 3, width: 128, height: 96, format: 'png' as const };
    expect((await renderImage(spec)).bytes.equals((await renderImage(spec)).bytes)).toBe(true);
  });

  it('makes another seed visibly different, not just a few bytes', async () => {
    const a = await renderImage({ prompt: 'a lighthouse', seed: 3, width: 128, height: 128, format: 'png' });
    const b = await renderImage({ prompt: 'a lighthouse', seed: 4, width: 128, height: 128, format: 'png' });
    expect(meanAbsDiff(await pixels(a.bytes), await pixels(b.bytes))).toBeGreaterThan(20);
  });

  it.each([
    ['jpeg', 'image/jpeg'],
    ['png', 'image/png'],
    ['webp', 'image/webp'],
  ] as const)('encodes %s at the exact size', async (format, mime) => {
    const out = await renderImage({ prompt: 'x', seed: 1, width: 80, height: 48, format });
    expect(out.mime).toBe(mime);
    const meta = await sharp(out.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, 80, 48]);
  });

  it('derives an edit from the input image: it stays closer to the input than a plain render', async () => {
    const input = await solidPng(64, 64, [250, 250, 0]);
    const edit = await renderImage({ prompt: 'x', seed: 1, width: 64, height: 64, format: 'png', input });
    const plain = await renderImage({ prompt: 'x', seed: 1, width: 64, height: 64, format: 'png' });
    const inputPx = await pixels(input);
    expect(meanAbsDiff(await pixels(edit.bytes), inputPx)).toBeLessThan(meanAbsDiff(await pixels(plain.bytes), inputPx));
  });
});

describe('sizes', () => {
  it.each([
    [undefined, undefined, undefined, { width: 1024, height: 1024 }],
    [0, 0, { width: 640, height: 480 }, { width: 640, height: 480 }],
    [100, 70, undefined, { width: 96, height: 64 }],
    [4096, 4096, undefined, { width: 2048, height: 2048 }],
    [512, 0, { width: 200, height: 100 }, { width: 512, height: 256 }],
  ])('BFL maps %s×%s (input %j) to %j', (w, h, input, expected) => {
    expect(bflSize(w, h, input)).toEqual(expected);
  });

  it.each([
    ['1:1', '1K', { width: 1024, height: 1024 }],
    ['1:1', '2K', { width: 2048, height: 2048 }],
    ['16:9', '1K', { width: 1360, height: 768 }],
    ['9:16', '1K', { width: 768, height: 1360 }],
  ])('kie/crun map %s at %s to %j', (aspect, res, expected) => {
    expect(aspectSize(aspect, res)).toEqual(expected);
  });

  it('parses novita W*H sizes', () => {
    expect(parseStarSize('1024*768')).toEqual({ width: 1024, height: 768 });
    expect(parseStarSize('1024x768')).toBeNull();
  });
});

describe('pricing', () => {
  it.each([
    ['max', 256, 256, 0, 7.000000000000001],
    ['pro', 1440, 1440, 0, 4.5],
    ['pro', 1024, 1024, 0, 3],
    ['flex', 1024, 1024, 0, 5],
    ['flex', 1024, 1024, 1, 10],
    ['max', 1024, 1024, 1, 10],
    ['pro', 1024, 1024, 1, 4.5],
  ])('BFL %s at %s×%s with %s 1 MP reference(s) costs %s credits', (model, w, h, refs, cost) => {
    const inputs = Array.from({ length: refs }, () => ({ width: 1024, height: 1024 }));
    expect(bflCost(model, { width: w, height: h }, inputs).cost).toBeCloseTo(cost, 10);
  });

  it('prices kie and crun per model and resolution', () => {
    expect([kieCredits('flux-2/pro-text-to-image', '1K'), kieCredits('flux-2/pro-image-to-image', '2K')]).toEqual([5, 7]);
    expect([kieCredits('flux-2/flex-text-to-image', '1K'), kieCredits('flux-2/flex-image-to-image', '2K')]).toEqual([14, 24]);
    expect(crunCredits('flux-2-max', '1K')).toBeGreaterThan(crunCredits('flux-2-flex', '1K'));
  });
});
