/** Estimates before a run, budgets during it, and provenance after it, on the emulator. */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSchema, type Pipeline } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { estimatePipeline } from '../../engine/host/estimate';
import { priceOf } from '../../engine/providers/pricing';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { extractProvenance } from '../../engine/store/provenance';
import { createRegistry } from '../../nodes/index';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
const EXAMPLES = resolve(__dirname, '../../examples');
let host: HostProviders;

beforeAll(async () => {
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 100 } });
});
afterAll(() => host.close());

function example(name: string): Pipeline {
  return pipelineSchema.parse(JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')));
}

function workspace() {
  const dir = tempDir();
  return { dir, store: new FileArtifactStore(join(dir, 'store')), ledger: Ledger.open(join(dir, 'ledger.sqlite')), out: join(dir, 'out') };
}

describe('estimate, budget and provenance', () => {
  it.each(['draft-then-refine.json', 'reference-edit.json'])('the estimate of %s equals what the emulator charges', async (name) => {
    const w = workspace();
    const doc = example(name);
    const estimate = await estimatePipeline(doc, { registry, providers: host.providers, store: w.store, tasks: w.ledger.hooks('e'), baseDir: EXAMPLES });
    const summary = await runPipeline(doc, { registry, providers: host.providers, store: w.store, baseDir: EXAMPLES, outDir: w.out, runId: 'r', tasks: w.ledger.hooks('r') });
    expect(estimate.calls).toBe(summary.providerCalls);
    expect(estimate.totalUsd).toBeGreaterThan(0);
    expect(summary.costUsd).toBeCloseTo(estimate.totalUsd, 6);
  });

  it('counts fan-out and picks per node, and cached items at zero', async () => {
    const w = workspace();
    const doc = example('draft-then-refine.json');
    const before = await estimatePipeline(doc, { registry, providers: host.providers, store: w.store, tasks: w.ledger.hooks('e1'), baseDir: EXAMPLES });
    expect(before.nodes.map((n) => [n.nodeId, n.calls, n.cached])).toEqual([
      ['drafts', 4, 0],
      ['refine', 2, 0],
    ]);
    expect(before.nodes[0].usd).toBeCloseTo(4 * 0.05, 6);
    await runPipeline(doc, { registry, providers: host.providers, store: w.store, baseDir: EXAMPLES, outDir: w.out, runId: 'r', tasks: w.ledger.hooks('r') });
    const after = await estimatePipeline(doc, { registry, providers: host.providers, store: w.store, tasks: w.ledger.hooks('e2'), baseDir: EXAMPLES });
    expect(after.totalUsd).toBe(0);
    expect(after.cached).toBe(6);
  });

  it('stops submitting when the cost reported by the provider reaches the budget', async () => {
    const w = workspace();
    const doc = pipelineSchema.parse({
      version: 1,
      settings: { concurrency: { bfl: 1 } },
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'budget' } },
        { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, count: 4, seed: 1 } },
        { id: 'save', type: 'save-image', params: {} },
      ],
      edges: [
        { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
        { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
      ],
    });
    const submitted = host.emulator!.stats().submissions.bfl;
    const summary = await runPipeline(doc, { registry, providers: host.providers, store: w.store, baseDir: w.dir, outDir: w.out, runId: 'b', budgetUsd: 0.12, priceOf });
    expect(host.emulator!.stats().submissions.bfl - submitted).toBe(2);
    expect(summary.failures.map((f) => f.code)).toEqual(['budget_exceeded', 'budget_exceeded']);
    expect(summary.failures[0].message).toMatch(/budget of \$0\.12 reached/);
    expect(summary.costUsd).toBeCloseTo(0.1, 6);
  });

  it('a saved image carries its pipeline: reading it back gives the document that made it, seeds included', async () => {
    const w = workspace();
    const doc = example('draft-then-refine.json');
    const noSeeds = { ...doc, nodes: doc.nodes.map((n) => (n.id === 'drafts' ? { ...n, params: { ...n.params, seed: undefined } } : n)) };
    await runPipeline(pipelineSchema.parse(JSON.parse(JSON.stringify(noSeeds))), { registry, providers: host.providers, store: w.store, baseDir: EXAMPLES, outDir: w.out, runId: 'p' });
    const dir = join(w.out, 'p');
    const record = extractProvenance(readFileSync(join(dir, 'final-2.jpg')))!;
    const sidecar = JSON.parse(readFileSync(join(dir, 'final-2.json'), 'utf8'));
    expect(record).toMatchObject({ runId: 'p', nodeId: 'refine', item: 2, seed: sidecar.seed });
    const restored = pipelineSchema.parse(record.pipeline);
    const drawn = restored.nodes.find((n) => n.id === 'drafts')!.params.seed as number;
    expect(typeof drawn).toBe('number');
    // The document is the one that ran, with the seed the run drew written in.
    expect(restored).toEqual(pipelineSchema.parse({ ...noSeeds, nodes: noSeeds.nodes.map((n) => (n.id === 'drafts' ? { ...n, params: { ...n.params, seed: drawn } } : n)) }));
    const draft1 = JSON.parse(readFileSync(join(dir, 'drafts', 'draft-1.json'), 'utf8'));
    expect(draft1.seed).toBe(drawn + 1);
    expect(JSON.stringify(record)).not.toMatch(/embedded-emulator/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.jpg'))).toHaveLength(2);
  });
});
