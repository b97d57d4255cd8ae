import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { pipelineSchema, type Pipeline, type PipelineInput } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import { fakeProvider, providerSet } from '../helpers/fake-provider';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });

function pipeline(flex: Record<string, unknown>, refine: Record<string, unknown> = { seed: 9 }): Pipeline {
  const doc: PipelineInput = {
    version: 1,
    name: 'cache-test',
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: 'a fox' } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 64, height: 64, count: 2, ...flex } },
      { id: 'refine', type: 'flux-max-refine', params: refine },
      { id: 'save', type: 'save-image', params: {} },
    ],
    edges: [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'refine', 'images'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
  };
  return pipelineSchema.parse(doc);
}

function workspace() {
  const dir = tempDir();
  const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
  const store = new FileArtifactStore(join(dir, 'store'));
  const provider = fakeProvider();
  const run = async (doc: Pipeline, runId: string, opts: { cache?: boolean; seedsFrom?: string } = {}) => {
    const events: RunEvent[] = [];
    ledger.startRun({ runId, pipeline: doc, options: {} });
    const summary = await runPipeline(doc, {
      registry,
      providers: providerSet(provider),
      store,
      baseDir: dir,
      outDir: join(dir, 'out'),
      runId,
      tasks: ledger.hooks(runId, opts),
      onEvent: (ev) => events.push(ev),
    });
    ledger.finishRun(summary);
    const cached = events.filter((ev) => ev.type === 'itemDone' && ev.cached).map((ev) => (ev as { nodeId: string }).nodeId);
    return { summary, cached };
  };
  return { dir, ledger, store, provider, run };
}

describe('ledger and cache', () => {
  it.each([
    ['same params and explicit seeds: everything from cache', { seed: 1 }, { seed: 1 }, { seed: 9 }, 0, ['drafts', 'drafts', 'refine', 'refine']],
    ['refine params changed: only the refine runs again', { seed: 1 }, { seed: 1 }, { seed: 10 }, 2, ['drafts', 'drafts']],
    ['draft steps changed: drafts and the refines of them run again', { seed: 1 }, { seed: 1, steps: 4 }, { seed: 9 }, 4, []],
    ['no explicit seed: a fresh seed, nothing from cache', {}, {}, { seed: 9 }, 4, []],
  ])('%s', async (_name, flexA, flexB, refineB, submitsSecondRun, cachedNodes) => {
    const w = workspace();
    await w.run(pipeline(flexA), 'a');
    const before = w.provider.log.submits.length;
    expect(before).toBe(4);
    const second = await w.run(pipeline(flexB, refineB), 'b');
    expect(w.provider.log.submits.length - before).toBe(submitsSecondRun);
    expect(second.cached.sort()).toEqual(cachedNodes);
    expect(second.summary.status).toBe('done');
  });

  it('--no-cache submits again even with explicit seeds', async () => {
    const w = workspace();
    await w.run(pipeline({ seed: 1 }), 'a');
    await w.run(pipeline({ seed: 1 }), 'b', { cache: false });
    expect(w.provider.log.submits).toHaveLength(8);
  });

  it('cached items cost nothing in the summary', async () => {
    const w = workspace();
    const first = await w.run(pipeline({ seed: 1 }), 'a');
    const second = await w.run(pipeline({ seed: 1 }), 'b');
    expect(first.summary.costUsd).toBeGreaterThan(0);
    expect(second.summary.costUsd).toBe(0);
  });

  it('a corrupted stored image is reported and generated again, never used', async () => {
    const w = workspace();
    await w.run(pipeline({ seed: 1 }), 'a');
    const draftHash = w.ledger.tasksOf('a').find((t) => t.nodeId === 'drafts' && t.item === 0)!.resultHash!;
    writeFileSync(w.store.pathOf(draftHash), 'garbage');
    const second = await w.run(pipeline({ seed: 1 }), 'b');
    expect(second.summary.warnings.map((x) => x.message)).toEqual([expect.stringMatching(/corrupted .*generating it again/)]);
    expect(w.provider.log.submits).toHaveLength(5);
    expect(second.summary.status).toBe('done');
  });

  it('resuming a run reuses its random seeds, so finished items are not paid again', async () => {
    const w = workspace();
    await w.run(pipeline({}), 'a');
    const again = await w.run(pipeline({}), 'a');
    expect(w.provider.log.submits).toHaveLength(4);
    expect(again.cached).toHaveLength(4);
  });

  it('run-to-here takes seeds from the earlier run, so its random drafts come from the store', async () => {
    const w = workspace();
    await w.run(pipeline({}), 'a');
    const seeds = w.provider.log.submits.filter((r) => r.model === 'flex').map((r) => r.seed);
    const partial = await w.run(pipeline({}, { seed: 11 }), 'b', { seedsFrom: 'a' });
    expect(partial.cached.filter((n) => n === 'drafts')).toHaveLength(2);
    expect(w.provider.log.submits.slice(4).map((r) => r.model)).toEqual(['max', 'max']);
    expect(w.provider.log.submits.slice(4).every((r) => r.references.length === 1)).toBe(true);
    expect(seeds).toHaveLength(2);
  });

  it('an interrupted submit is never sent again on resume; the item fails as ambiguous', async () => {
    const w = workspace();
    const doc = pipeline({ seed: 1, count: 1 });
    const hooks = w.ledger.hooks('a');
    w.ledger.startRun({ runId: 'a', pipeline: doc, options: {} });
    // Simulate a crash between "submitting" and the provider's answer: record the intent only.
    let intent: Parameters<NonNullable<typeof hooks.submitting>>[0] | undefined;
    const probe = fakeProvider();
    await runPipeline(doc, {
      registry,
      providers: providerSet(probe),
      store: w.store,
      baseDir: w.dir,
      outDir: join(w.dir, 'o'),
      runId: 'probe',
      tasks: { ...w.ledger.hooks('probe'), submitting: async (key) => void (intent ??= key) },
    });
    await hooks.submitting!({ ...intent!, runId: 'a', cacheable: false });
    const resumed = await w.run(doc, 'a');
    expect(w.provider.log.submits).toHaveLength(0);
    expect(resumed.summary.failures).toEqual([expect.objectContaining({ nodeId: 'drafts', code: 'ambiguous_submit' })]);
  });

  it('lists runs with status and cost', async () => {
    const w = workspace();
    await w.run(pipeline({ seed: 1 }), 'a');
    const [run] = w.ledger.listRuns();
    expect(run).toMatchObject({ runId: 'a', name: 'cache-test', status: 'done', images: 2, failures: 0 });
    expect(run.costUsd).toBeCloseTo(2 * 0.05 + 2 * 0.07);
  });
});

describe('ledger across runs', () => {
  it('a run that waits on a task another run has in flight shows it as shared at $0; the payer counts it', async () => {
    const dir = tempDir();
    const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
    const store = new FileArtifactStore(join(dir, 'store'));
    const provider = fakeProvider({ latencyMs: 400 });
    const doc = pipeline({ seed: 77 });
    const runOne = (runId: string) => {
      ledger.startRun({ runId, pipeline: doc, options: {} });
      return runPipeline(doc, { registry, providers: providerSet(provider), store, baseDir: dir, outDir: join(dir, runId), runId, tasks: ledger.hooks(runId) });
    };
    const a = runOne('a');
    // Start b once both of a's drafts are submitted and not yet done.
    while ((await ledger.tasksOf('a')).filter((t) => t.state === 'submitted').length < 2) await new Promise((r) => setTimeout(r, 5));
    const [sa, sb] = await Promise.all([a, runOne('b')]);
    expect([sa.status, sb.status]).toEqual(['done', 'done']);
    expect(provider.log.submits).toHaveLength(4);
    expect(sa.nodes.drafts.costUsd).toBeCloseTo(2 * 0.05, 6);
    expect(sb.nodes.drafts.costUsd).toBe(0);
    expect(sa.costUsd + sb.costUsd).toBeCloseTo(2 * 0.05 + 2 * 0.07, 6);
    ledger.close();
  });

  it('two runs sharing a ledger pay once for the same seeded request', async () => {
    const dir = tempDir();
    const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
    const store = new FileArtifactStore(join(dir, 'store'));
    const provider = fakeProvider({ latencyMs: 50 });
    const doc = pipeline({ seed: 99 });
    const runOne = (runId: string) => {
      ledger.startRun({ runId, pipeline: doc, options: {} });
      return runPipeline(doc, { registry, providers: providerSet(provider), store, baseDir: dir, outDir: join(dir, runId), runId, tasks: ledger.hooks(runId) });
    };
    const [a, b] = await Promise.all([runOne('a'), runOne('b')]);
    expect([a.status, b.status]).toEqual(['done', 'done']);
    expect(provider.log.submits).toHaveLength(4);
    expect(a.costUsd + b.costUsd).toBeCloseTo(2 * 0.05 + 2 * 0.07, 6);
  });

  it('a stored image damaged in the run being resumed is generated again, not looped on', async () => {
    const w = workspace();
    await w.run(pipeline({ seed: 1 }), 'a');
    const hash = w.ledger.tasksOf('a').find((t) => t.nodeId === 'refine')!.resultHash!;
    writeFileSync(w.store.pathOf(hash), 'garbage');
    const again = await w.run(pipeline({ seed: 1 }), 'a');
    expect(again.summary.failures).toEqual([]);
    expect(again.summary.status).toBe('done');
    expect(w.provider.log.submits.length).toBeGreaterThanOrEqual(5);
  });

  it('a submit refused with 429 does not block a resume', async () => {
    const dir = tempDir();
    const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
    const store = new FileArtifactStore(join(dir, 'store'));
    const doc = pipeline({ seed: 3, count: 1 });
    const refusing = fakeProvider({ rateLimitFirst: 1000 });
    const controller = new AbortController();
    ledger.startRun({ runId: 'r', pipeline: doc, options: {} });
    const first = runPipeline(doc, { registry, providers: providerSet(refusing), store, baseDir: dir, outDir: join(dir, 'o'), runId: 'r', tasks: ledger.hooks('r'), signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    expect((await first).status).toBe('cancelled');
    const healthy = fakeProvider();
    const resumed = await runPipeline(doc, { registry, providers: providerSet(healthy), store, baseDir: dir, outDir: join(dir, 'o'), runId: 'r', tasks: ledger.hooks('r') });
    expect(resumed.failures).toEqual([]);
    expect(healthy.log.submits).toHaveLength(2);
  });
});

describe('forgetting old runs', () => {
  it('forgets finished runs and keeps a run that still has a task in flight, whole', async () => {
    const w = workspace();
    await w.run(pipeline({ seed: 1 }), 'finished');
    w.ledger.startRun({ runId: 'interrupted', pipeline: pipeline({ seed: 2 }), options: {} });
    const hooks = w.ledger.hooks('interrupted');
    const key = { runId: 'interrupted', nodeId: 'drafts', item: 0, provider: 'bfl', nodeType: 'flux-flex-generate', nodeVersion: 1, cacheable: true, requestHash: 'h', request: { model: 'flex' as const, prompt: 'p', referenceHashes: [] } };
    await hooks.submitting!(key);
    await hooks.submitted(key, { provider: 'bfl', model: 'flex', taskId: 't', submittedAt: 0 });
    w.ledger.markRun('interrupted', 'cancelled');
    expect(w.ledger.forgetRunsBefore(Date.now() + 1000)).toBe(1);
    expect(w.ledger.getRun('finished')).toBeUndefined();
    expect(w.ledger.tasksOf('finished')).toEqual([]);
    expect(w.ledger.getRun('interrupted')?.status).toBe('cancelled');
    expect(w.ledger.tasksOf('interrupted').map((t) => t.state)).toEqual(['submitted']);
  });
});
