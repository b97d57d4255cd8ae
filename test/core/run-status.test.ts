/** How a run and its nodes end, in the words of the one status list, on the emulator. */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import { tempDir } from '../helpers/tmp';

let host: HostProviders;
beforeAll(async () => {
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 80 } });
});
afterAll(() => host.close());
beforeEach(() => host.emulator!.reset());

const chain = (text: string) =>
  pipelineSchema.parse({
    version: 1,
    nodes: [
      { id: 'idea', type: 'prompt', params: { text } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 3, steps: 4, seed: 8 } },
      { id: 'refine', type: 'flux-max-refine', params: { seed: 2 } },
      { id: 'save', type: 'save-image', params: {} },
    ],
    edges: [
      { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
      { source: 'drafts', sourceHandle: 'images', target: 'refine', targetHandle: 'images' },
      { source: 'idea', sourceHandle: 'text', target: 'refine', targetHandle: 'prompt' },
      { source: 'refine', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  });

function run(doc: ReturnType<typeof chain>, extra: Partial<Parameters<typeof runPipeline>[1]> = {}) {
  const dir = tempDir();
  const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
  ledger.startRun({ runId: 'r', pipeline: doc, options: {} });
  return runPipeline(doc, { registry: createRegistry(), providers: host.providers, store: new FileArtifactStore(join(dir, 'store')), baseDir: dir, outDir: join(dir, 'out'), runId: 'r', tasks: ledger.hooks('r', { reattach: false }), ...extra }).finally(() => ledger.close());
}

describe('run and node statuses', () => {
  it('a run where every paid item failed is failed, not partial', async () => {
    const summary = await run(chain('a boat [fail]'));
    expect(summary.nodes.drafts.status).toBe('failed');
    expect(summary.status).toBe('failed');
    expect(summary.providerCalls).toBe(3);
  });

  it('nodes downstream of a cancel are cancelled, not failed or skipped, and calls are the calls made', async () => {
    host.emulator!.setLatency(3_000);
    const controller = new AbortController();
    const summary = await run(chain('a cancelled boat'), {
      signal: controller.signal,
      onEvent: (e) => e.type === 'nodeProgress' && /submitted$/.test(e.status ?? '') && controller.abort(),
    });
    host.emulator!.setLatency(300);
    expect(summary.status).toBe('cancelled');
    expect(summary.nodes.drafts.status).toBe('cancelled');
    expect(summary.nodes.refine.status).toBe('cancelled');
    expect(summary.nodes.save.status).toBe('cancelled');
    expect(summary.failures).toEqual([]);
    expect(summary.skipped).toEqual([]);
    expect(summary.providerCalls).toBe(host.emulator!.stats().submissions.bfl);
    expect(summary.costMicros).toBe(summary.providerCalls * 50_000);
  });
});
