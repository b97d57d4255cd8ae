import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import type { ImageRequest } from '../engine/core/provider';
import { checkPixels, combineParam, outputFormatParam, PROMPT_PORT, referencesPort, providerParam, safetyToleranceParam, seedParam, sideParam } from './shared-params';
import { referencesOf, requestFieldsOf } from './request-fields';

const params = z
  .strictObject({
    width: sideParam.default(1024).describe('Multiple of 16, 64..4096, at most 4 MP with height'),
    height: sideParam.default(1024).describe('Multiple of 16, 64..4096, at most 4 MP with width'),
    steps: z.number().int().min(1).max(50).default(50).describe('Fewer steps: faster, cheaper-looking drafts'),
    guidance: z.number().min(1.5).max(10).default(5),
    seed: seedParam.describe('Draft i gets seed + i; unset: a fresh random seed each run (recorded)'),
    count: z.number().int().min(1).max(64).default(1).describe('How many drafts'),
    promptUpsampling: z.boolean().default(false).describe('Let the provider rewrite the prompt'),
    safetyTolerance: safetyToleranceParam,
    outputFormat: outputFormatParam,
    provider: providerParam,
    combine: combineParam,
  })
  .superRefine(checkPixels);

/** FLUX.2 [flex]: prompt (+ up to 8 references) in, `count` drafts out, each streamed as it is ready. */
export const fluxFlexGenerate = defineNode({
  type: 'flux-flex-generate',
  title: 'FLUX.2 [flex] generate',
  description: 'Text (and optional reference images) to images with FLUX.2 [flex]: count drafts, seeds seed, seed+1, ...',
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
    model: 'flex',
    ...(p.provider ? { provider: p.provider } : {}),
    setFields: requestFieldsOf(explicit),
    width: p.width,
    height: p.height,
    calls: p.count,
  }),
  async run({ inputs, params: p, ctx }) {
    const request: ImageRequest = {
      model: 'flex',
      prompt: inputs.prompt,
      references: referencesOf(inputs.references, ctx),
      width: p.width,
      height: p.height,
      seed: (p.seed ?? ctx.nodeSeed) + ctx.fanIndex,
      steps: p.steps,
      guidance: p.guidance,
      promptUpsampling: p.promptUpsampling,
      safetyTolerance: p.safetyTolerance,
      outputFormat: p.outputFormat,
    };
    const image = await ctx.generate(request, { provider: p.provider, label: `draft ${ctx.fanIndex + 1}/${p.count}`, cacheable: p.seed !== undefined });
    return { images: image };
  },
});
