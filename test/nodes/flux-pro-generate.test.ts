import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { validatePipeline } from '../../engine/core/validate';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
let host: HostProviders;
beforeAll(async () => {
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 100 } });
});
afterAll(() => host.close());

const doc = (provider?: string) =>
  pipelineSchema.parse({
    version: 1,
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: 'a teapot' } },
      { id: 'pro', type: 'flux-pro-generate', params: { width: 512, height: 512, count: 2, seed: 3, ...(provider ? { provider } : {}) } },
      { id: 'save', type: 'save-image', params: {} },
    ],
    edges: [
      { source: 'idea', sourceHandle: 'text', target: 'pro', targetHandle: 'prompt' },
      { source: 'pro', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  });

describe('flux-pro-generate', () => {
  it('generates with FLUX.2 [pro] on BFL at the pro price', async () => {
    const dir = tempDir();
    const summary = await runPipeline(doc(), { registry, providers: host.providers, store: new FileArtifactStore(join(dir, 's')), baseDir: dir, outDir: join(dir, 'out'), runId: 'r' });
    expect(summary.status).toBe('done');
    const sidecar = JSON.parse(readFileSync(join(dir, 'out', 'r', 'save-1.json'), 'utf8'));
    expect(sidecar).toMatchObject({ model: 'pro', provider: 'bfl', seed: 4, costUsd: 0.03 });
  });

  it('is refused on a provider without FLUX.2 [pro], naming those that have it', () => {
    const issue = validatePipeline(doc('crun'), { registry, providers: host.providers }).issues.find((i) => i.code === 'unsupported_model');
    expect(issue?.message).toMatch(/provider "crun" has no FLUX.2 \[pro\]; providers that have it: bfl, kie, novita/);
  });
});
