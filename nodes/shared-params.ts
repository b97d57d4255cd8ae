/** Param schemas shared by the generating nodes, so the same rule reads the same everywhere. */
import { z } from 'zod';

export const PROVIDER_IDS = ['bfl', 'kie', 'novita', 'crun'] as const;

export const providerParam = z.enum(PROVIDER_IDS).optional().describe('Provider for this node (overrides the run and pipeline choice)');

export const MAX_PIXELS = 4 * 1024 * 1024;

export const sideParam = z.number().int().min(64).max(4096).multipleOf(16);

export const seedParam = z
  .number()
  .int()
  .min(0)
  .max(2_147_483_647)
  .optional()
  .describe('Unset: a fresh random seed each run (recorded)');

export const safetyToleranceParam = z.number().int().min(0).max(5).default(2).describe('0 is strictest, 5 most permissive');

export const outputFormatParam = z.enum(['jpeg', 'png', 'webp']).default('jpeg').describe('webp on BFL and crun; kie and novita choose their own format (a warning says so)');

/** Adds the 4-megapixel limit to a params object with width and height. */
export function checkPixels(value: { width?: number; height?: number }, ctx: z.RefinementCtx): void {
  if (value.width !== undefined && value.height !== undefined && value.width * value.height > MAX_PIXELS) {
    ctx.addIssue({
      code: 'custom',
      path: ['width'],
      message: `width × height must be at most 4 megapixels (${MAX_PIXELS} pixels), got ${value.width}×${value.height} = ${value.width * value.height}`,
    });
  }
}

/** Snaps a size to the nearest multiple of 16 within 64..4096 and 4 MP, keeping the aspect ratio. */
export function snapSize(width: number, height: number): { width: number; height: number } {
  let w = width;
  let h = height;
  const pixels = w * h;
  if (pixels > MAX_PIXELS) {
    const scale = Math.sqrt(MAX_PIXELS / pixels);
    w *= scale;
    h *= scale;
  }
  const snap = (v: number) => Math.min(4096, Math.max(64, Math.floor(v / 16) * 16));
  return { width: snap(w), height: snap(h) };
}

export const combineParam = z
  .enum(['zip', 'product'])
  .default('zip')
  .describe('When two batch lists meet (prompts and images): zip pairs row 1 with row 1, 2 with 2 (the lists must be as long); product makes every pair. Default: zip');

/** Port descriptions that state when a batch list iterates and when edges aggregate. */
export const PROMPT_PORT = 'One text; from a prompt list, the node runs once per prompt (row)';
export const referencesPort = (max: number) =>
  `Up to ${max} reference images, all sent in one call; an image folder as the only edge iterates instead: one call per image (row)`;
