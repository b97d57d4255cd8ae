/** A small paid pipeline: one prompt, `count` FLUX.2 [flex] drafts (no seed: never shared between runs), saved. */
export const drafts = (count: number, name = 'drafts') => ({
  version: 1,
  name,
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a lighthouse at dusk' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count, steps: 4 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});
