/** The pre-flight of reference delivery (way 5 of issue 10): which local images cannot reach their provider. */
import { describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { ProviderSet } from '../../engine/core/provider';
import { createBflProvider } from '../../engine/providers/bfl';
import { createCrunProvider } from '../../engine/providers/crun';
import { createKieProvider } from '../../engine/providers/kie';
import { ReferenceDelivery } from '../../engine/refs/delivery';
import { CachedReferencePlan } from '../../engine/refs/cached-plan';
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

describe('cached references in the pre-flight dry run', () => {
  const HASH = 'e'.repeat(64);
  const crun = createCrunProvider({});
  const kie = createKieProvider({});
  const cached = { asset: { hash: HASH, mime: 'image/png' as const, width: 8, height: 8, meta: { provider: 'crun', nodeId: 'drafts', cached: true } }, read: async () => Buffer.alloc(0) };
  const none = { upload: false, bucket: false, publicServer: false, uploadsOff: false };
  const plan = (o: { urls?: MemoryReferenceUrls; inStore?: boolean; session?: string } = {}) =>
    new CachedReferencePlan({
      urls: o.urls ?? new MemoryReferenceUrls(),
      store: { has: async () => o.inStore ?? true },
      minValidMs: 5 * 60_000,
      ...(o.session ? { session: o.session } : {}),
      availability: (p) => (p.id === 'kie' ? { ...none, upload: true } : none),
    });

  it('refuses a cached image with no URL left on a provider with no other way, naming the node it came from', async () => {
    await expect(plan().resolve(crun, [cached])).rejects.toMatchObject({ code: 'needs_public_url', message: expect.stringMatching(/image of node "drafts" taken from the cache.*not known here/) });
    const urls = new MemoryReferenceUrls();
    urls.record({ hash: HASH, provider: 'crun', url: 'http://127.0.0.1:1/r.png', expiresAt: Date.now() + 3_600_000, route: 'provider-url', session: 'emulator-gone' });
    // An embedded emulator's URL from another process counts as gone.
    await expect(plan({ urls, session: 'emulator-now' }).resolve(crun, [cached])).rejects.toMatchObject({ code: 'needs_public_url' });
  });

  it('lets through a valid recorded URL, an image made in this run, a task still in flight, and a provider with an upload API', async () => {
    const urls = new MemoryReferenceUrls();
    urls.record({ hash: HASH, provider: 'crun', url: 'https://c/r.png', expiresAt: Date.now() + 3_600_000, route: 'provider-url' });
    await expect(plan({ urls }).resolve(crun, [cached])).resolves.toBeDefined();
    const fresh = { ...cached, asset: { ...cached.asset, meta: { ...cached.asset.meta, cached: false } } };
    await expect(plan().resolve(crun, [fresh])).resolves.toBeDefined();
    await expect(plan({ inStore: false }).resolve(crun, [cached])).resolves.toBeDefined();
    await expect(plan().resolve(kie, [cached])).resolves.toBeDefined();
  });
});
