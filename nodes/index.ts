/** The built-in node types. */
import type { AnyNodeDefinition } from '../engine/core/define-node';
import { NodeRegistry } from '../engine/core/registry';
import { fluxFlexGenerate } from './flux-flex-generate';
import { fluxMaxRefine } from './flux-max-refine';
import { fluxProGenerate } from './flux-pro-generate';
import { pickImages } from './pick-images';
import { promptNode } from './prompt';
import { promptList } from './prompt-list';
import { imageFolder } from './image-folder';
import { referenceImageNode } from './reference-image';
import { saveImage } from './save-image';

export const builtinNodes: readonly AnyNodeDefinition[] = [
  promptNode,
  referenceImageNode,
  promptList,
  imageFolder,
  fluxFlexGenerate,
  fluxProGenerate,
  fluxMaxRefine,
  pickImages,
  saveImage,
] as unknown as readonly AnyNodeDefinition[];

export function createRegistry(): NodeRegistry {
  return new NodeRegistry(builtinNodes);
}
