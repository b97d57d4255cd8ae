import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import type { ImageRequest } from '../engine/core/provider';
import { referencesOf, requestFieldsOf } from './request-fields';
import { checkPixels, combineParam, outputFormatParam, PROMPT_PORT, referencesPort, providerParam, safetyToleranceParam, seedParam, sideParam, snapSize } from './shared-params';

const params = z
  .strictObject({
    width: sideParam.optional().describe("Default: the input image's width, snapped to 16"),
    height: sideParam.optional().describe("Default: the input image's height, snapped to 16"),
    seed: seedParam.describe('Item i gets seed + i (i: its index in the input list); unset: a fresh random seed each run (recorded)'),
    safetyTolerance: safetyToleranceParam,
    outputFormat: outputFormatParam,
    provider: providerParam,
    combine: combineParam,
  })
  .superRefine(checkPixels);

/** FLUX.2 [max]: refines each incoming image separately, as soon as it arrives. */
export const fluxMaxRefine = defineNode({
  type: 'flux-max-refine',
  title: 'FLUX.2 [max] refine',
  description: 'Refines each input image with FLUX.2 [max], guided by the prompt and up to 7 extra references.',
  version: 1,
  category: 'generate',
  inputs: {
    images: { kind: 'image', required: true, multiple: true, description: 'Each image is refined separately (in a batch, with the prompt of its own row)' },
    prompt: { kind: 'text', required: true, description: PROMPT_PORT },
    references: { kind: 'image', multiple: true, max: 7, description: `Extra references (the input image is the first). ${referencesPort(7)}` },
  },
  outputs: { images: { kind: 'image', list: true } },
  params,
  eachItemOf: 'images',
  usesProvider: true,
  combine: (p) => p.combine,
  providerRequest: (p, explicit) => ({
    model: 'max',
    ...(p.provider ? { provider: p.provider } : {}),
    setFields: requestFieldsOf(explicit),
    ...(p.width !== undefined && p.height !== undefined ? { width: p.width, height: p.height } : {}),
  }),
  async run({ inputs, params: p, ctx }) {
    const [input] = inputs.images;
    const size = snapSize(p.width ?? input.width, p.height ?? input.height);
    const request: ImageRequest = {
      model: 'max',
      prompt: inputs.prompt,
      references: referencesOf([input, ...inputs.references], ctx),
      width: p.width ?? size.width,
      height: p.height ?? size.height,
      seed: (p.seed ?? ctx.nodeSeed) + (ctx.inputItem ?? 0),
      safetyTolerance: p.safetyTolerance,
      outputFormat: p.outputFormat,
    };
    const image = await ctx.generate(request, { provider: p.provider, label: `refine of item ${ctx.inputItem ?? 0}`, cacheable: p.seed !== undefined });
    return { images: image };
  },
});
