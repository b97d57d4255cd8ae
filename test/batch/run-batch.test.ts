/** Batches in the scheduler: rows through fan-out, pick and refine; zip and product; folders; failures per row. */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { pipelineSchema, type PipelineInput } from '../../engine/core/pipeline-schema';
import type { RunOptions } from '../../engine/core/run-options';
import { runPipeline } from '../../engine/core/run-pipeline';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { fakeProvider, providerSet, type FakeProviderOptions } from '../helpers/fake-provider';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });

async function run(doc: PipelineInput, o: { provider?: FakeProviderOptions; dir?: string; extra?: Partial<RunOptions> } = {}) {
  const provider = fakeProvider(o.provider);
  const dir = o.dir ?? tempDir();
  const events: RunEvent[] = [];
  const summary = await runPipeline(pipelineSchema.parse(doc), {
    registry,
    providers: providerSet(provider),
    store: new FileArtifactStore(join(dir, 'store')),
    baseDir: dir,
    outDir: join(dir, 'out'),
    runId: 'r1',
    onEvent: (ev) => events.push(ev),
    ...o.extra,
  });
  return { summary, events, provider, dir, out: join(dir, 'out', 'r1') };
}

async function png(path: string, colour: string) {
  await sharp({ create: { width: 32, height: 32, channels: 3, background: colour } }).png().toFile(path);
}

const draftRefineList = (items: string[]): PipelineInput => ({
  version: 1,
  nodes: [
    { id: 'list', type: 'prompt-list', params: { items } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 64, height: 64, count: 3, seed: 100 } },
    { id: 'pick', type: 'pick-images', params: { indices: [1, 2] } },
    { id: 'refine', type: 'flux-max-refine', params: { seed: 5 } },
    { id: 'save', type: 'save-image', params: { template: '{run}/{row}-{index}' } },
  ],
  edges: [e('list', 'prompts', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images'), e('list', 'prompts', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
});

describe('batches in the scheduler', () => {
  it('a prompt list runs draft-then-refine once per row; each refine gets its own row\'s prompt and the nodes\' seeds', async () => {
    const { summary, provider, out } = await run(draftRefineList(['a fox', 'an owl', 'a hare']));
    expect(summary.status).toBe('done');
    const flex = provider.log.submits.filter((r) => r.model === 'flex').map((r) => `${r.prompt}:${r.seed}`).sort();
    expect(flex).toEqual(['a fox:100', 'a fox:101', 'a fox:102', 'a hare:100', 'a hare:101', 'a hare:102', 'an owl:100', 'an owl:101', 'an owl:102']);
    // pick [1, 2] picks within each row; refine seeds are seed + the draft's index in its row.
    const max = provider.log.submits.filter((r) => r.model === 'max').map((r) => `${r.prompt}:${r.seed}`).sort();
    expect(max).toEqual(['a fox:6', 'a fox:7', 'a hare:6', 'a hare:7', 'an owl:6', 'an owl:7']);
    expect(readdirSync(out).filter((f) => f.endsWith('.png')).sort()).toEqual(['1-1.png', '1-2.png', '2-1.png', '2-2.png', '3-1.png', '3-2.png']);
    const sidecar = JSON.parse(readFileSync(join(out, '2-1.json'), 'utf8'));
    expect(sidecar).toMatchObject({ row: { n: 2, fields: { text: 'an owl' } }, prompt: 'an owl', seed: 6, item: 1 });
  });

  it('a CSV row fills the template; images land under row-{row}/ when the template has no {row}', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'products.csv'), 'product,style\n"mug, blue",flat lay\nlamp,noir\n');
    const { summary, provider, out } = await run(
      {
        version: 1,
        nodes: [
          { id: 'list', type: 'prompt-list', params: { file: 'products.csv', template: '{product}, on a white table, {style}' } },
          { id: 'gen', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1 } },
          { id: 'save', type: 'save-image', params: {} },
        ],
        edges: [e('list', 'prompts', 'gen', 'prompt'), e('gen', 'images', 'save', 'images')],
      },
      { dir },
    );
    expect(summary.status).toBe('done');
    expect(provider.log.submits.map((r) => r.prompt).sort()).toEqual(['lamp, on a white table, noir', 'mug, blue, on a white table, flat lay']);
    expect(readdirSync(out).sort()).toEqual(['row-1', 'row-2']);
    expect(readdirSync(join(out, 'row-1')).sort()).toEqual(['save-0.json', 'save-0.png']);
    expect(JSON.parse(readFileSync(join(out, 'row-1', 'save-0.json'), 'utf8')).row).toEqual({ n: 1, fields: { product: 'mug, blue', style: 'flat lay' } });
  });

  it.each([
    ['zip', ['a fox + img1', 'an owl + img2'], [1, 2]],
    ['product', ['a fox + img1', 'a fox + img2', 'an owl + img1', 'an owl + img2'], [1, 2, 3, 4]],
  ] as const)('prompts × images with combine %s', async (combine, pairs, rows) => {
    const dir = tempDir();
    mkdirSync(join(dir, 'photos'));
    await png(join(dir, 'photos', 'img1.png'), '#f00');
    await png(join(dir, 'photos', 'img2.png'), '#0f0');
    const names = new Map<string, string>([[await hashOf(join(dir, 'photos', 'img1.png')), 'img1'], [await hashOf(join(dir, 'photos', 'img2.png')), 'img2']]);
    const { summary, provider, events } = await run(
      {
        version: 1,
        nodes: [
          { id: 'list', type: 'prompt-list', params: { items: ['a fox', 'an owl'] } },
          { id: 'photos', type: 'image-folder', params: { path: 'photos' } },
          { id: 'gen', type: 'flux-flex-generate', params: { width: 64, height: 64, seed: 1, combine } },
          { id: 'save', type: 'save-image', params: { template: '{run}/{row}-{field:name}-{index}' } },
        ],
        edges: [e('list', 'prompts', 'gen', 'prompt'), e('photos', 'images', 'gen', 'references'), e('gen', 'images', 'save', 'images')],
      },
      { dir },
    );
    expect(summary.status).toBe('done');
    const got = provider.log.submits.map((r) => `${r.prompt} + ${names.get(r.references[0].asset.hash)}`).sort();
    expect(got).toEqual([...pairs]);
    const written = events.flatMap((ev) => (ev.type === 'fileWritten' ? [ev.row!.n] : [])).sort();
    expect(written).toEqual([...rows]);
    if (combine === 'product') {
      const row3 = events.find((ev) => ev.type === 'fileWritten' && ev.row?.n === 3);
      expect(row3 && row3.type === 'fileWritten' && row3.path).toMatch(/3-img1-0\.png$/);
    }
  });

  it('a folder is read in natural name order, one image per row', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'photos'));
    for (const [name, colour] of [['img10.png', '#00f'], ['img2.png', '#0f0'], ['img1.png', '#f00'], ['notes.txt', '']] as const) {
      if (colour) await png(join(dir, 'photos', name), colour);
      else writeFileSync(join(dir, 'photos', name), 'not an image');
    }
    const { summary, events } = await run(
      {
        version: 1,
        nodes: [
          { id: 'photos', type: 'image-folder', params: { path: 'photos' } },
          { id: 'save', type: 'save-image', params: { template: '{run}/{row}-{field:name}-{index}' } },
        ],
        edges: [e('photos', 'images', 'save', 'images')],
      },
      { dir },
    );
    expect(summary.status).toBe('done');
    const files = events.flatMap((ev) => (ev.type === 'fileWritten' ? [ev.path.split('/').pop()] : [])).sort();
    expect(files).toEqual(['1-img1-0.png', '2-img2-0.png', '3-img10-0.png']);
  });

  it('a failed row fails only itself', async () => {
    const { summary, out } = await run(draftRefineList(['a fox', 'a bad idea', 'a hare']), { provider: { moderatePrompts: ['a bad idea'] } });
    expect(summary.status).toBe('partial');
    expect(readdirSync(out).filter((f) => f.endsWith('.png')).sort()).toEqual(['1-1.png', '1-2.png', '3-1.png', '3-2.png']);
    expect(summary.failures.every((f) => f.row?.n === 2)).toBe(true);
    expect(summary.failures).toHaveLength(3);
  });

  it('rows are pulled as the run has room, so the first rows are refined before the last are drafted', async () => {
    const items = Array.from({ length: 60 }, (_, i) => `prompt ${i + 1}`);
    const { summary, provider } = await run(draftRefineList(items), { provider: { latencyMs: 2, cap: 4 }, extra: { rowWindow: 5 } });
    expect(summary.status).toBe('done');
    expect(provider.log.submits).toHaveLength(60 * 5);
    // With 5 rows open and 4 lanes, a row's refines start long before the last row's drafts.
    const firstMax = provider.log.events.indexOf(provider.log.events.find((x) => x.startsWith('submit max'))!);
    const lastFlex = provider.log.events.lastIndexOf(provider.log.events.filter((x) => x.startsWith('submit flex')).at(-1)!);
    expect(firstMax).toBeLessThan(lastFlex);
  });
});

async function hashOf(path: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
