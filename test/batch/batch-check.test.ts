/** The batch pre-flight and the batch estimate: line numbers, zip lengths, fields, rows × one row's price. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBatch } from '../../engine/core/batch-check';
import { planBatch } from '../../engine/core/batch-plan';
import { pipelineSchema, type PipelineInput } from '../../engine/core/pipeline-schema';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { estimatePipeline } from '../../engine/host/estimate';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });

const listInto = (listParams: Record<string, unknown>, saveTemplate = '{run}/{row}-{index}'): PipelineInput => ({
  version: 1,
  nodes: [
    { id: 'list', type: 'prompt-list', params: listParams },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, count: 2, seed: 1 } },
    { id: 'pick', type: 'pick-images', params: { indices: [0] } },
    { id: 'refine', type: 'flux-max-refine', params: { seed: 1 } },
    { id: 'save', type: 'save-image', params: { template: saveTemplate } },
  ],
  edges: [e('list', 'prompts', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images'), e('list', 'prompts', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
});

describe('batch pre-flight', () => {
  it.each([
    ['a row missing a column', 'sku,product\nA,mug\nB\nC,lamp\n', '{product}', 3, /list\.csv:3: has 1 field, the header has 2 \(missing: product\)/],
    ['a bad quote', 'sku,product\nA,mug\nB,"lamp"x\n', '{product}', 3, /list\.csv:3: malformed CSV/],
    ['a template column the header lacks', 'sku,product\nA,mug\n', '{product}, {colour}', 1, /the header has no column "colour"/],
  ])('reports %s with its line number', async (_case, csv, template, line, message) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'list.csv'), csv);
    const got = await checkBatch(pipelineSchema.parse(listInto({ file: 'list.csv', template })), { registry, baseDir: dir });
    expect(got.issues).toEqual([expect.objectContaining({ nodeId: 'list', rowLine: line, message: expect.stringMatching(message) })]);
  });

  it('a zip of lists of different lengths is an error naming both; product multiplies', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'photos'));
    for (const n of [1, 2]) await sharp({ create: { width: 16, height: 16, channels: 3, background: '#fff' } }).png().toFile(join(dir, 'photos', `p${n}.png`));
    const doc = (combine: string) =>
      pipelineSchema.parse({
        version: 1,
        nodes: [
          { id: 'list', type: 'prompt-list', params: { items: ['a', 'b', 'c'] } },
          { id: 'photos', type: 'image-folder', params: { path: 'photos' } },
          { id: 'gen', type: 'flux-flex-generate', params: { combine } },
        ],
        edges: [e('list', 'prompts', 'gen', 'prompt'), e('photos', 'images', 'gen', 'references')],
      });
    const zip = await checkBatch(doc('zip'), { registry, baseDir: dir });
    expect(zip.issues).toEqual([expect.objectContaining({ nodeId: 'gen', param: 'combine', message: expect.stringMatching(/"list" has 3 rows and "photos" has 2 rows/) })]);
    const product = await checkBatch(doc('product'), { registry, baseDir: dir });
    expect(product.issues).toEqual([]);
    expect(product.rows.get('gen')).toBe(6);
  });

  it('{field:NAME} must name a field of the rows', async () => {
    const got = await checkBatch(pipelineSchema.parse(listInto({ items: ['a'] }, '{run}/{field:sku}-{index}')), { registry, baseDir: tempDir() });
    expect(got.issues).toEqual([expect.objectContaining({ nodeId: 'save', message: expect.stringMatching(/\{field:sku\} names no field of the row; the rows have "text"/) })]);
  });

  it('an image that is not one is reported before anything runs', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'photos'));
    writeFileSync(join(dir, 'photos', 'fake.jpg'), 'hello');
    const got = await checkBatch(
      pipelineSchema.parse({ version: 1, nodes: [{ id: 'photos', type: 'image-folder', params: { path: 'photos' } }], edges: [] }),
      { registry, baseDir: dir },
    );
    expect(got.issues).toEqual([expect.objectContaining({ message: expect.stringMatching(/photos\/fake\.jpg is not a JPEG, PNG or WebP image/) })]);
  });
});

describe('batch plan', () => {
  it('plans a 50,000-node chain listed backwards in one pass (no recursion)', () => {
    const nodes: PipelineInput['nodes'] = [{ id: 'photos', type: 'image-folder', params: { path: 'photos' } }];
    const edges: PipelineInput['edges'] = [];
    for (let i = 1; i <= 50_000; i++) {
      nodes.push({ id: `p${i}`, type: 'pick-images', params: { all: true } });
      edges.push(e(i === 1 ? 'photos' : `p${i - 1}`, 'images', `p${i}`, 'images'));
    }
    const plan = planBatch(pipelineSchema.parse({ version: 1, nodes: nodes.reverse(), edges }), { registry });
    expect([...plan.get('p50000')!.carries]).toEqual(['photos']);
    expect(plan.get('photos')!.feed).toBe('photos');
  });
});

describe('batch estimate', () => {
  let host: HostProviders;
  beforeAll(async () => {
    host = await createProviders({ env: {}, emulator: 'always' });
  });
  afterAll(() => host.close());

  it('prices rows × one row: 3 rows of 2 drafts and 1 refine', async () => {
    const dir = tempDir();
    const one = await estimatePipeline(pipelineSchema.parse(listInto({ items: ['a'] })), { registry, providers: host.providers, store: new FileArtifactStore(join(dir, 's')), baseDir: dir });
    const three = await estimatePipeline(pipelineSchema.parse(listInto({ items: ['a', 'b', 'c'] })), { registry, providers: host.providers, store: new FileArtifactStore(join(dir, 's')), baseDir: dir });
    expect(one.calls).toBe(3);
    expect(three.calls).toBe(9);
    // The editor shows a list node's row count and first entries from here.
    expect(three.batch).toEqual({ rows: 3, sources: { list: { count: 3, preview: ['a', 'b', 'c'] } } });
    expect(three.totalUsd).toBeCloseTo(one.totalUsd * 3, 6);
    expect(three.nodes.find((n) => n.nodeId === 'drafts')).toMatchObject({ calls: 6 });
  });
});
