import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import type { ImageRequest } from '../engine/core/provider';
import { referencesOf, requestFieldsOf } from './request-fields';
import { checkPixels, combineParam, outputFormatParam, PROMPT_PORT, referencesPort, providerParam, safetyToleranceParam, seedParam, sideParam } from './shared-params';

const params = z
  .strictObject({
    width: sideParam.default(1024).describe('Multiple of 16, 64..4096, at most 4 MP with height'),
    height: sideParam.default(1024).describe('Multiple of 16, 64..4096, at most 4 MP with width'),
    seed: seedParam.describe('Image i gets seed + i; unset: a fresh random seed each run (recorded)'),
    count: z.number().int().min(1).max(64).default(1).describe('How many images'),
    safetyTolerance: safetyToleranceParam,
    outputFormat: outputFormatParam,
    provider: providerParam,
    combine: combineParam,
  })
  .superRefine(checkPixels);

/** FLUX.2 [pro]: fixed quality, no steps or guidance; cheaper than [max] for finals that need less. */
export const fluxProGenerate = defineNode({
  type: 'flux-pro-generate',
  title: 'FLUX.2 [pro] generate',
  description: 'Text (and optional reference images) to images with FLUX.2 [pro]: fast, fixed-quality, no steps or guidance.',
  version: 1,
  category: 'generate',
  inputs: {
    prompt: { kind: 'text', required: true, description: PROMPT_PORT },
    references: { kind: 'image', multiple: true, max: 8, description: referencesPort(8) },
  },
  outputs: { images: { kind: 'image', list: true } },
  params,
  usesProvider: true,
  combine: (p) => p.combine,
  fanOut: (p) => p.count,
  providerRequest: (p, explicit) => ({
    model: 'pro',
    ...(p.provider ? { provider: p.provider } : {}),
    setFields: requestFieldsOf(explicit),
    width: p.width,
    height: p.height,
    calls: p.count,
  }),
  async run({ inputs, params: p, ctx }) {
    const request: ImageRequest = {
      model: 'pro',
      prompt: inputs.prompt,
      references: referencesOf(inputs.references, ctx),
      width: p.width,
      height: p.height,
      seed: (p.seed ?? ctx.nodeSeed) + ctx.fanIndex,
      safetyTolerance: p.safetyTolerance,
      outputFormat: p.outputFormat,
    };
    const image = await ctx.generate(request, { provider: p.provider, label: `image ${ctx.fanIndex + 1}/${p.count}`, cacheable: p.seed !== undefined });
    return { images: image };
  },
});
