/**
 * save-image never loses an image: names are claimed exclusively (then -1, -2, ...), image and
 * sidecar appear whole or not at all, and a resumed run keeps the file it already wrote.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageAsset } from '../../engine/core/ports';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import type { SavedFile } from '../../engine/core/run-options';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { saveImage } from '../../nodes/save-image';
import { createRegistry } from '../../nodes/index';
import { nodeContext } from '../helpers/node-context';
import { tempDir } from '../helpers/tmp';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function asset(store: FileArtifactStore, colour: string): Promise<ImageAsset> {
  const bytes = await sharp({ create: { width: 8, height: 8, channels: 3, background: colour } }).png().toBuffer();
  return { hash: await store.put(bytes), mime: 'image/png', width: 8, height: 8, meta: { nodeId: 'drafts', seed: 5 } };
}

/** Every image file has its sidecar, the sidecar names it and hashes it; no temp files are left. */
function expectConsistent(dir: string): string[] {
  const files = readdirSync(dir, { recursive: true, withFileTypes: false }) as string[];
  expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
  const images = files.filter((f) => /\.(png|jpg|webp)$/.test(f));
  for (const f of images) {
    const sidecar = JSON.parse(readFileSync(join(dir, f.replace(/\.\w+$/, '.json')), 'utf8'));
    expect(sidecar.file).toBe(f);
    expect(sidecar.fileSha256).toBe(sha(readFileSync(join(dir, f))));
  }
  return images.sort();
}

describe('save-image claims names exclusively', () => {
  it('forty concurrent saves of different images to one name keep all forty, each with its own sidecar', async () => {
    const base = nodeContext();
    const assets = await Promise.all(Array.from({ length: 40 }, (_, i) => asset(base.store, `rgb(${i * 6}, 10, 10)`)));
    await Promise.all(
      assets.map((image, i) => saveImage.run({ inputs: { images: [image] }, params: { template: 'same-{seed}' }, ctx: { ...base, runId: `run${i}` } })),
    );
    const images = expectConsistent(base.outDir);
    expect(images).toHaveLength(40);
    // Each saved file holds a different generated image: none was overwritten by another.
    const held = new Set(images.map((f) => JSON.parse(readFileSync(join(base.outDir, f.replace(/\.png$/, '.json')), 'utf8')).image.sha256));
    expect(held).toEqual(new Set(assets.map((a) => a.hash)));
  });

  it('a resumed run keeps the file it wrote for the same node and item; a different image moves to -1', async () => {
    const recorded: SavedFile[] = [];
    const ctx = nodeContext({ inputItem: 2, savedFiles: async () => recorded, fileWritten: (_p, _s, file) => void (file && recorded.push(file)) });
    const image = await asset(ctx.store, '#123456');
    await saveImage.run({ inputs: { images: [image] }, params: { template: 'keep-{index}' }, ctx });
    const first = readFileSync(join(ctx.outDir, 'keep-2.png'));
    // The resume (a new invocation, the same run) finds the ledger's record and keeps the file.
    await saveImage.run({ inputs: { images: [image] }, params: { template: 'keep-{index}' }, ctx });
    expect(readdirSync(ctx.outDir).sort()).toEqual(['keep-2.json', 'keep-2.png']);
    expect(readFileSync(join(ctx.outDir, 'keep-2.png')).equals(first)).toBe(true);
    expect(recorded).toHaveLength(1);
    const other = await asset(ctx.store, '#654321');
    await saveImage.run({ inputs: { images: [other] }, params: { template: 'keep-{index}' }, ctx });
    expect(expectConsistent(ctx.outDir)).toEqual(['keep-2-1.png', 'keep-2.png']);
  });
});

describe('collisions the pre-flight cannot see, on the emulator', () => {
  let host: HostProviders;
  beforeAll(async () => {
    host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 100 } });
  });
  afterAll(() => host.close());

  it('two runs writing into one folder with a template without {run} and equal seeds lose no image', async () => {
    const dir = tempDir();
    const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
    const store = new FileArtifactStore(join(dir, 'store'));
    const out = join(dir, 'out');
    const doc = (text: string) =>
      pipelineSchema.parse({
        version: 1,
        nodes: [
          { id: 'idea', type: 'prompt', params: { text } },
          { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 3, steps: 4, seed: 11 } },
          { id: 'save', type: 'save-image', params: { template: 'shot-{seed}' } },
        ],
        edges: [
          { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
          { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
        ],
      });
    const registry = createRegistry();
    const run = (runId: string, text: string) => {
      ledger.startRun({ runId, pipeline: doc(text), options: {} });
      return runPipeline(doc(text), { registry, providers: host.providers, store, baseDir: dir, outDir: out, runId, tasks: ledger.hooks(runId, { reattach: false }) });
    };
    const [a, b] = await Promise.all([run('a', 'a red boat'), run('b', 'a green boat')]);
    expect([a.status, b.status]).toEqual(['done', 'done']);
    expect(a.imagesWritten.length + b.imagesWritten.length).toBe(6);
    expect(expectConsistent(out)).toHaveLength(6);
    expect(new Set([...a.imagesWritten, ...b.imagesWritten]).size).toBe(6);
    expect(ledger.filesOf('a')).toHaveLength(3);
    ledger.close();
  });
});
