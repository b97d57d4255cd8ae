import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import type { PipelineInput } from '../../engine/core/pipeline-schema';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { fakeProvider, providerSet, type FakeProviderOptions } from '../helpers/fake-provider';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });

function draftRefine(count: number, pick: number[] | 'all' = 'all', flexParams: Record<string, unknown> = {}): PipelineInput {
  return {
    version: 1,
    name: 'test',
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: 'a fox' } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 64, height: 64, count, seed: 100, ...flexParams } },
      { id: 'pick', type: 'pick-images', params: pick === 'all' ? { all: true } : { indices: pick } },
      { id: 'refine', type: 'flux-max-refine', params: { seed: 5 } },
      { id: 'save', type: 'save-image', params: {} },
    ],
    edges: [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
  };
}

async function run(doc: PipelineInput, providerOptions: FakeProviderOptions = {}, extra: { signal?: AbortSignal; concurrency?: Record<string, number>; onEvent?: (e: RunEvent) => void } = {}) {
  const provider = fakeProvider(providerOptions);
  const dir = tempDir();
  const events: RunEvent[] = [];
  const summary = await runPipeline(pipelineSchema.parse(doc), {
    registry,
    providers: providerSet(provider),
    store: new FileArtifactStore(join(dir, 'store')),
    baseDir: dir,
    outDir: join(dir, 'out'),
    runId: 'r1',
    ...extra,
    onEvent: (ev) => {
      events.push(ev);
      extra.onEvent?.(ev);
    },
  });
  return { summary, events, provider, outDir: join(dir, 'out') };
}

describe('runPipeline', () => {
  it('runs draft-then-refine end to end and writes every image with a sidecar', async () => {
    const { summary, outDir, provider } = await run(draftRefine(3, [0, 2]));
    expect(summary.status).toBe('done');
    expect(provider.log.submits.map((r) => `${r.model}:${r.seed}`).sort()).toEqual(['flex:100', 'flex:101', 'flex:102', 'max:5', 'max:7']);
    const files = readdirSync(join(outDir, 'r1')).sort();
    expect(files).toEqual(['save-0.json', 'save-0.png', 'save-2.json', 'save-2.png']);
    const sidecar = JSON.parse(readFileSync(join(outDir, 'r1', 'save-2.json'), 'utf8'));
    expect(sidecar).toMatchObject({ pipeline: 'test', node: 'refine', nodeType: 'flux-max-refine', seed: 7, provider: 'bfl', model: 'max', costUsd: 0.07, params: { seed: 5 } });
    expect(sidecar.sourceImages).toHaveLength(1);
    expect(summary.costUsd).toBeCloseTo(3 * 0.05 + 2 * 0.07);
  });

  it('starts refining draft 0 while a later draft is still generating', async () => {
    const slowLast = (r: { model: string; seed?: number }) => (r.model === 'flex' && r.seed === 102 ? 150 : 5);
    const { provider } = await run(draftRefine(3), { latencyMs: slowLast });
    const ev = provider.log.events;
    expect(ev.indexOf('submit max 5')).toBeLessThan(ev.indexOf('done flex 102'));
    expect(ev.indexOf('submit max 5')).toBeGreaterThan(-1);
  });

  it('never has more active provider tasks than the lane cap', async () => {
    const { provider, summary } = await run(draftRefine(20, 'all'), { latencyMs: 10 }, { concurrency: { bfl: 3 } });
    expect(summary.status).toBe('done');
    expect(provider.log.submits).toHaveLength(40);
    expect(provider.log.peakActive).toBe(3);
  });

  it('skips only the items downstream of a moderated draft', async () => {
    const { summary, outDir, events } = await run(draftRefine(3), { moderateSeeds: [101] });
    expect(summary.status).toBe('partial');
    expect(summary.failures).toEqual([expect.objectContaining({ nodeId: 'drafts', item: 1, code: 'moderated' })]);
    expect(summary.skipped.map((s) => `${s.nodeId}:${s.item}`).sort()).toEqual(['pick:1', 'refine:1', 'save:1']);
    expect(readdirSync(join(outDir, 'r1')).filter((f) => f.endsWith('.png')).sort()).toEqual(['save-0.png', 'save-2.png']);
    expect(events.find((ev) => ev.type === 'nodeError')).toMatchObject({ nodeId: 'drafts', item: 1, code: 'moderated' });
  });

  it('skips a whole node whose whole input failed, and keeps independent branches going', async () => {
    const doc: PipelineInput = {
      version: 1,
      nodes: [
        { id: 'bad', type: 'reference-image', params: { source: 'not-an-image.png' } },
        { id: 'idea', type: 'prompt', params: { text: 'a fox' } },
        { id: 'edit', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1 } },
        { id: 'plain', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 2 } },
        { id: 'save', type: 'save-image', params: {} },
      ],
      edges: [e('bad', 'image', 'edit', 'references'), e('idea', 'text', 'edit', 'prompt'), e('idea', 'text', 'plain', 'prompt'), e('plain', 'images', 'save', 'images')],
    };
    const provider = fakeProvider();
    const dir = tempDir();
    writeFileSync(join(dir, 'not-an-image.png'), 'hello');
    const summary = await runPipeline(pipelineSchema.parse(doc), { registry, providers: providerSet(provider), store: new FileArtifactStore(join(dir, 's')), baseDir: dir, outDir: join(dir, 'out') });
    expect(summary.failures).toEqual([expect.objectContaining({ nodeId: 'bad', code: 'invalid_input' })]);
    expect(summary.failures[0].message).toMatch(/node "bad" \(reference-image\) item 0: not-an-image.png is text, not a JPEG, PNG or WebP image/);
    expect(summary.nodes.edit.status).toBe('skipped');
    expect(summary.nodes.save.status).toBe('done');
    expect(provider.log.submits.map((r) => r.seed)).toEqual([2]);
  });

  it('retries a submit refused with 429 without paying twice', async () => {
    const { summary, provider } = await run(draftRefine(1), { rateLimitFirst: 2 });
    expect(summary.status).toBe('done');
    expect(provider.log.submits).toHaveLength(2);
  });

  it('stops submitting and polling when aborted, and reports the run as cancelled', async () => {
    const controller = new AbortController();
    const { summary, provider } = await run(draftRefine(12), { latencyMs: 40 }, {
      signal: controller.signal,
      concurrency: { bfl: 2 },
      onEvent: (ev) => ev.type === 'itemDone' && ev.nodeId === 'drafts' && controller.abort(),
    });
    expect(summary.status).toBe('cancelled');
    expect(provider.log.submits.length).toBeLessThan(6);
    expect(provider.log.waiting).toBe(0);
  });

  it('refuses a picked index beyond a fixed draft count before submitting anything', async () => {
    const provider = fakeProvider();
    const dir = tempDir();
    const doc = pipelineSchema.parse(draftRefine(2, [0, 5]));
    const options = { registry, providers: providerSet(provider), store: new FileArtifactStore(join(dir, 'store')), baseDir: dir, outDir: join(dir, 'out') };
    await expect(runPipeline(doc, options)).rejects.toThrow(/node "pick" \(pick-images\): param "indices": 5 is out of range; "drafts" gave 2 items \(0-1\)/);
    expect(provider.log.submits).toEqual([]);
  });

  it('records a fresh random seed per run when none is set', async () => {
    const a = await run(draftRefine(2, 'all', { seed: undefined }));
    const b = await run(draftRefine(2, 'all', { seed: undefined }));
    const seedsA = a.provider.log.submits.filter((r) => r.model === 'flex').map((r) => r.seed!).sort((x, y) => x - y);
    const seedsB = b.provider.log.submits.filter((r) => r.model === 'flex').map((r) => r.seed!);
    expect(seedsA[1]).toBe(seedsA[0] + 1);
    expect(seedsB).not.toContain(seedsA[0]);
  });

  it('pays once for identical seeded requests in one run; the twin gets the same image at no cost', async () => {
    const twin = (id: string) => ({ id, type: 'flux-flex-generate', params: { width: 64, height: 64, count: 2, seed: 5 } });
    const doc: PipelineInput = {
      version: 1,
      nodes: [{ id: 'idea', type: 'prompt', params: { text: 'a fox' } }, twin('a'), twin('b'), { id: 'save', type: 'save-image', params: { template: '{source}-{index}' } }],
      edges: [e('idea', 'text', 'a', 'prompt'), e('idea', 'text', 'b', 'prompt'), e('a', 'images', 'save', 'images'), e('b', 'images', 'save', 'images')],
    };
    const { summary, provider, outDir } = await run(doc);
    expect(summary.status).toBe('done');
    expect(provider.log.submits.map((r) => r.seed).sort()).toEqual([5, 6]);
    expect(summary.cached).toBe(2);
    expect(summary.costUsd).toBeCloseTo(0.1, 6);
    expect(readdirSync(outDir).filter((f) => f.endsWith('.png')).sort()).toEqual(['a-0.png', 'a-2.png', 'b-1.png', 'b-3.png']);
  });

  it('emits plain-data events in order for each node', async () => {
    const { events } = await run(draftRefine(2));
    expect(events[0].type).toBe('runStart');
    expect(events.at(-1)!.type).toBe('runDone');
    for (const ev of events) expect(JSON.parse(JSON.stringify(ev))).toEqual(ev);
    const drafts = events.filter((ev) => 'nodeId' in ev && ev.nodeId === 'drafts').map((ev) => ev.type);
    expect(drafts[0]).toBe('nodeStart');
    expect(drafts.at(-1)).toBe('nodeDone');
    expect(drafts.filter((t) => t === 'itemDone')).toHaveLength(2);
  });
});
