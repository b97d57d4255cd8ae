import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageAsset } from '../../engine/core/ports';
import { extractProvenance } from '../../engine/store/provenance';
import { saveImage, templateProblem } from '../../nodes/save-image';
import { nodeContext } from '../helpers/node-context';

async function asset(ctx: ReturnType<typeof nodeContext>, colour: string): Promise<ImageAsset> {
  const bytes = await sharp({ create: { width: 16, height: 16, channels: 3, background: colour } }).png().toBuffer();
  return { hash: await ctx.store.put(bytes), mime: 'image/png', width: 16, height: 16, meta: { nodeId: 'drafts', seed: 41, provider: 'bfl', model: 'flex', taskId: 't-1', costUsd: 0.05, sourceHashes: ['ab'] } };
}

describe('save-image', () => {
  it.each([
    ['{run}/{node}-{index}', undefined],
    ['out-{seed}', undefined],
    ['../{index}', /must not contain "\.\."/],
    ['/etc/{index}', /absolute path/],
    ['{run}/{colour}-{index}', /unknown placeholder \{colour\}/],
    ['{run}/same-name', /must contain \{index\} or \{seed\}/],
  ])('template %s', (template, problem) => {
    const got = templateProblem(template);
    if (problem) expect(got).toMatch(problem);
    else expect(got).toBeUndefined();
  });

  it('writes the image and a provenance sidecar inside the output folder', async () => {
    const ctx = nodeContext({ nodeId: 'save', inputItem: 3, pipeline: { name: 'demo', document: { nodes: [{ id: 'drafts', type: 'flux-flex-generate', params: { steps: 6 } }] }, seeds: { drafts: 41 } } });
    const image = await asset(ctx, '#f00');
    await saveImage.run({ inputs: { images: [image] }, params: { template: '{run}/{source}-{index}-{seed}' }, ctx });
    const file = join(ctx.outDir, 'run1', 'drafts-3-41.png');
    const written = readFileSync(file);
    expect(await sharp(written).raw().toBuffer()).toEqual(await sharp(await ctx.store.read(image.hash)).raw().toBuffer());
    expect(extractProvenance(written)).toMatchObject({ runId: 'run1', nodeId: 'drafts', item: 3, seed: 41, pipeline: { nodes: [{ id: 'drafts', params: { steps: 6, seed: 41 } }] } });
    const sidecar = JSON.parse(readFileSync(file.replace(/\.png$/, '.json'), 'utf8'));
    expect(sidecar).toMatchObject({ pipeline: 'demo', node: 'drafts', nodeType: 'flux-flex-generate', params: { steps: 6, seed: 41 }, seed: 41, provider: 'bfl', model: 'flex', taskId: 't-1', costUsd: 0.05, sourceImages: ['ab'], image: { sha256: image.hash } });
    expect(ctx.written).toEqual([[file, file.replace(/\.png$/, '.json')]]);
  });

  it('never overwrites an earlier, different image with the same name', async () => {
    const ctx = nodeContext();
    const first = await asset(ctx, '#f00');
    const second = await asset(ctx, '#0f0');
    await saveImage.run({ inputs: { images: [first] }, params: { template: 'fixed-{index}' }, ctx });
    await saveImage.run({ inputs: { images: [second] }, params: { template: 'fixed-{index}' }, ctx });
    await saveImage.run({ inputs: { images: [second] }, params: { template: 'fixed-{index}' }, ctx });
    expect(readdirSync(ctx.outDir).sort()).toEqual(['fixed-0-1.json', 'fixed-0-1.png', 'fixed-0.json', 'fixed-0.png']);
    expect(await sharp(join(ctx.outDir, 'fixed-0.png')).raw().toBuffer()).toEqual(await sharp(await ctx.store.read(first.hash)).raw().toBuffer());
  });

  it('refuses a template that escapes the output folder at run time too', async () => {
    const ctx = nodeContext();
    const image = await asset(ctx, '#00f');
    await expect(saveImage.run({ inputs: { images: [image] }, params: { template: '../../{index}' }, ctx })).rejects.toMatchObject({ code: 'invalid_param' });
    expect(existsSync(ctx.outDir)).toBe(false);
  });
});
