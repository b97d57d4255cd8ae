/** Every example pipeline runs on the emulator, through the real BFL adapter, and writes its files. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../engine/core/run-pipeline';
import { validatePipeline } from '../engine/core/validate';
import { createProviders, type HostProviders } from '../engine/host/create-providers';
import { FileArtifactStore, sha256 } from '../engine/store/artifacts';
import { createRegistry } from '../nodes/index';
import { tempDir } from './helpers/tmp';

const EXAMPLES = resolve(__dirname, '../examples');
const registry = createRegistry();
let host: HostProviders;

beforeAll(async () => {
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 100 } });
});
afterAll(() => host.close());

async function runExample(name: string) {
  const file = join(EXAMPLES, name);
  const checked = validatePipeline(readFileSync(file, 'utf8'), { registry, providers: host.providers, baseDir: EXAMPLES });
  expect(checked.issues).toEqual([]);
  const dir = tempDir();
  const summary = await runPipeline(checked.pipeline!, { registry, providers: host.providers, store: new FileArtifactStore(join(dir, 'store')), baseDir: EXAMPLES, outDir: join(dir, 'out'), runId: 'ex' });
  return { summary, out: join(dir, 'out', 'ex') };
}

describe('examples', () => {
  it('draft-then-refine.json: 4 drafts saved, drafts 0 and 2 refined with max and saved', async () => {
    const { summary, out } = await runExample('draft-then-refine.json');
    expect(summary.status).toBe('done');
    expect(readdirSync(join(out, 'drafts')).sort()).toEqual(['draft-0.jpg', 'draft-0.json', 'draft-1.jpg', 'draft-1.json', 'draft-2.jpg', 'draft-2.json', 'draft-3.jpg', 'draft-3.json']);
    expect(readdirSync(out).filter((f) => f.startsWith('final')).sort()).toEqual(['final-0.jpg', 'final-0.json', 'final-2.jpg', 'final-2.json']);
    const meta = await sharp(join(out, 'final-2.jpg')).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 768]);
    const draft2 = JSON.parse(readFileSync(join(out, 'drafts', 'draft-2.json'), 'utf8'));
    const final2 = JSON.parse(readFileSync(join(out, 'final-2.json'), 'utf8'));
    expect(draft2).toMatchObject({ node: 'drafts', model: 'flex', seed: 1002 });
    expect(final2.sourceImages).toEqual([draft2.image.sha256]);
  });

  it('reference-edit.json: the reference is sent to flex and the edit is saved', async () => {
    const { summary, out } = await runExample('reference-edit.json');
    expect(summary.status).toBe('done');
    const sidecar = JSON.parse(readFileSync(join(out, 'edit-0.json'), 'utf8'));
    expect(sidecar).toMatchObject({ node: 'edit', model: 'flex', seed: 42, image: { width: 768, height: 768 } });
    expect(sidecar.sourceImages).toEqual([sha256(readFileSync(join(EXAMPLES, 'assets/still-life.png')))]);
  });

  it('batch-products.json: each of the 12 CSV rows is drafted twice, its first draft refined with its own prompt, named by row and SKU', async () => {
    const { summary, out } = await runExample('batch-products.json');
    expect(summary.status).toBe('done');
    const finals = readdirSync(join(out, 'final')).filter((f) => f.endsWith('.jpg')).sort((a, b) => parseInt(a) - parseInt(b));
    expect(finals).toHaveLength(12);
    expect(finals.slice(0, 3)).toEqual(['1-MUG-01-0.jpg', '2-MUG-02-0.jpg', '3-LMP-01-0.jpg']);
    expect(readdirSync(join(out, 'drafts')).filter((f) => f.endsWith('.jpg'))).toHaveLength(24);
    const final4 = JSON.parse(readFileSync(join(out, 'final', '4-LMP-02-0.json'), 'utf8'));
    expect(final4).toMatchObject({ node: 'refine', model: 'max', seed: 7, row: { n: 4, fields: { sku: 'LMP-02', product: 'pendant lamp, cone shade' } } });
    expect(final4.prompt).toBe('pendant lamp, cone shade in spun aluminium, product photo, Scandinavian kitchen');
    const draft4 = JSON.parse(readFileSync(join(out, 'drafts', '4-LMP-02-0.json'), 'utf8'));
    expect(draft4).toMatchObject({ seed: 1000, prompt: final4.prompt });
    expect(final4.sourceImages).toEqual([draft4.image.sha256]);
  });
});
