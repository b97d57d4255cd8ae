import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';

const params = z
  .strictObject({
    indices: z.array(z.number().int().min(0)).optional().describe('Which items to keep, e.g. [0, 2] (0 is the first draft)'),
    all: z.boolean().optional().describe('Keep every item'),
  })
  .superRefine((p, ctx) => {
    if (p.all === true && p.indices !== undefined) ctx.addIssue({ code: 'custom', path: ['indices'], message: 'set either "indices" or "all": true, not both' });
    if (p.all !== true && p.indices === undefined) ctx.addIssue({ code: 'custom', path: ['indices'], message: 'set "indices" (e.g. [0, 2]) or "all": true' });
  });

/**
 * Keeps the chosen items of a list and passes each on as soon as it arrives; the items keep
 * their index, so "refine of draft 2" stays traceable. The editor sets `indices` by clicking
 * thumbnails.
 */
export const pickImages = defineNode({
  type: 'pick-images',
  title: 'Pick images',
  description: 'Keeps the chosen items of a list (indices, or all) and passes them on as they arrive.',
  version: 1,
  category: 'select',
  inputs: { images: { kind: 'image', required: true, multiple: true } },
  outputs: { images: { kind: 'image', list: true } },
  params,
  eachItemOf: 'images',
  passes: (p, index) => p.all === true || (p.indices?.includes(index) ?? false),
  async run({ inputs, params: p, ctx }) {
    const index = ctx.inputItem ?? 0;
    return p.all === true || p.indices?.includes(index) ? { images: inputs.images[0] } : null;
  },
  afterItems(p, present, upstream) {
    const missing = (p.indices ?? []).filter((i) => !present.includes(i));
    if (!missing.length) return undefined;
    const had = present.length === 0 ? 'no items' : present.length === present.at(-1)! + 1 ? `${present.length} item${present.length === 1 ? '' : 's'} (0-${present.length - 1})` : `items ${present.join(', ')}`;
    return `param "indices": ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} out of range; ${upstream} gave ${had}`;
  },
});
