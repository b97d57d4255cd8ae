/** The pre-flight of reference delivery (way 5 of issue 10): which local images cannot reach their provider. */
import { describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { ProviderSet } from '../../engine/core/provider';
import { createBflProvider } from '../../engine/providers/bfl';
import { createCrunProvider } from '../../engine/providers/crun';
import { createKieProvider } from '../../engine/providers/kie';
import { ReferenceDelivery } from '../../engine/refs/delivery';
import { checkReferenceDelivery } from '../../engine/refs/plan';
import { MemoryReferenceUrls } from '../../engine/store/reference-urls';
import { createRegistry } from '../../nodes/index';

const list = [createBflProvider({}), createKieProvider({}), createCrunProvider({})];
const providers: ProviderSet = { get: (id) => list.find((p) => p.id === id), ids: () => list.map((p) => p.id), defaultId: 'bfl' };
const registry = createRegistry();

function doc(source: string, provider: string): Pipeline {
  return {
    version: 1,
    nodes: [
      { id: 'photo', type: 'reference-image', params: { source } },
      { id: 'idea', type: 'prompt', params: { text: 'make it blue' } },
      { id: 'pick', type: 'pick-images', params: { indices: [0] } },
      { id: 'edit', type: 'flux-flex-generate', params: { provider } },
    ],
    edges: [
      // Through a pass-through node: the local file still reaches the provider.
      { source: 'photo', sourceHandle: 'image', target: 'pick', targetHandle: 'images' },
      { source: 'pick', sourceHandle: 'images', target: 'edit', targetHandle: 'references' },
      { source: 'idea', sourceHandle: 'text', target: 'edit', targetHandle: 'prompt' },
    ],
  } as Pipeline;
}

const check = (d: Pipeline, o: { uploads?: boolean } = {}) => {
  const delivery = new ReferenceDelivery({ urls: new MemoryReferenceUrls(), ...(o.uploads === false ? { uploads: false } : {}) });
  return checkReferenceDelivery(d, { registry, providers, availability: (p) => delivery.availability(p) });
};

describe('reference delivery pre-flight', () => {
  it('a local file through pick-images into crun, with no way to deliver it, is an error on the node', () => {
    const issues = check(doc('photo.png', 'crun'));
    expect(issues).toEqual([expect.objectContaining({ code: 'needs_public_url', severity: 'error', nodeId: 'edit', port: 'references' })]);
    expect(issues[0].message).toMatch(/"photo" \(photo\.png\)/);
  });

  it('a public URL, a provider that takes bytes, and kie with its upload API are fine', () => {
    expect(check(doc('https://example.com/p.png', 'crun'))).toEqual([]);
    expect(check(doc('photo.png', 'bfl'))).toEqual([]);
    expect(check(doc('photo.png', 'kie'))).toEqual([]);
    expect(check(doc('photo.png', 'kie'), { uploads: false })).toHaveLength(1);
  });

  it('an image a provider makes in the run is fine: its result URL is passed on', () => {
    const d: Pipeline = {
      version: 1,
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'a boat' } },
        { id: 'draft', type: 'flux-flex-generate', params: { provider: 'crun' } },
        { id: 'refine', type: 'flux-max-refine', params: { provider: 'crun' } },
      ],
      edges: [
        { source: 'idea', sourceHandle: 'text', target: 'draft', targetHandle: 'prompt' },
        { source: 'idea', sourceHandle: 'text', target: 'refine', targetHandle: 'prompt' },
        { source: 'draft', sourceHandle: 'images', target: 'refine', targetHandle: 'images' },
      ],
    } as Pipeline;
    expect(check(d)).toEqual([]);
  });
});
