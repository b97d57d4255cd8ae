/** Helpers the generating nodes share to build provider requests. */
import type { NodeContext } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';
import type { ImageAsset } from '../engine/core/ports';
import type { ImageRequest, ReferenceImage } from '../engine/core/provider';

/** Node param name → provider request field, for "provider X ignores param Y" warnings. */
const FIELD_OF_PARAM: Record<string, keyof ImageRequest> = {
  width: 'width',
  height: 'height',
  seed: 'seed',
  steps: 'steps',
  guidance: 'guidance',
  promptUpsampling: 'promptUpsampling',
  safetyTolerance: 'safetyTolerance',
  outputFormat: 'outputFormat',
};

export function requestFieldsOf(explicitParams: readonly string[]): (keyof ImageRequest)[] {
  return explicitParams.flatMap((p) => (FIELD_OF_PARAM[p] ? [FIELD_OF_PARAM[p]] : []));
}

export const MAX_REFERENCES = 8;

export function referencesOf(images: readonly ImageAsset[], ctx: NodeContext): ReferenceImage[] {
  if (images.length > MAX_REFERENCES) {
    throw new EngineError('invalid_input', `got ${images.length} reference images; FLUX.2 takes at most ${MAX_REFERENCES}`, { port: 'references' });
  }
  return images.map((asset) => ({
    asset,
    ...(asset.meta?.url ? { url: asset.meta.url } : {}),
    read: () => ctx.store.read(asset.hash),
  }));
}
