/**
 * createRunner: library runs get what `fluxgraph run` gets (the ledger, the cache, resume,
 * history shared with `fluxgraph runs`, the budget, the emulator notice), and close() releases it.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import type { PipelineInput } from '../../engine/core/pipeline-schema';
import { createRunner, type Runner, type RunnerOptions } from '../../engine/host/create-runner';
import { Ledger } from '../../engine/store/ledger';
import { cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

const EXAMPLE = join(ROOT, 'examples', 'draft-then-refine.json');
const small = (extra: Record<string, unknown> = {}): PipelineInput => ({
  version: 1,
  name: 'small',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a paper boat' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, steps: 4, count: 2, seed: 11, ...extra } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

const open: Runner[] = [];
async function runner(o: RunnerOptions = {}) {
  const dir = tempDir('fluxgraph-runner-');
  const notices: string[] = [];
  const r = await createRunner({ cacheDir: join(dir, 'cache'), outDir: join(dir, 'out'), env: {}, onNotice: (l) => notices.push(l), ...o });
  open.push(r);
  return { r, dir, notices };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe('createRunner', () => {
  it('runs a pipeline file on the embedded emulator with the ledger, and says so', async () => {
    const { r, dir, notices } = await runner();
    const events: RunEvent['type'][] = [];
    const summary = await r.run(EXAMPLE, { onEvent: (e) => events.push(e.type) });
    expect(summary.status).toBe('done');
    expect(summary.imagesWritten).toHaveLength(6);
    for (const f of summary.imagesWritten) expect(existsSync(f)).toBe(true);
    expect(summary.imagesWritten.every((f) => f.startsWith(join(dir, 'out')))).toBe(true);
    expect(events[0]).toBe('runStart');
    expect(events.at(-1)).toBe('runDone');
    expect(r.embedded).toBe(true);
    expect(notices.join('\n')).toMatch(/embedded emulator/);
    expect(existsSync(join(dir, 'cache', 'ledger.sqlite'))).toBe(true);
  });

  it('serves a repeated seeded run from the cache at no cost', async () => {
    const { r } = await runner();
    const first = await r.run(small());
    const again = await r.run(small());
    expect(first.cached ?? 0).toBe(0);
    expect(first.costUsd).toBeGreaterThan(0);
    expect(again.status).toBe('done');
    expect(again.cached).toBe(2);
    expect(again.costUsd).toBe(0);
  });

  it('lists its runs in the history that fluxgraph runs shows', async () => {
    const { r, dir } = await runner();
    const summary = await r.run(small());
    expect(r.runs().map((x) => [x.runId, x.status])).toEqual([[summary.runId, 'done']]);
    const listed = await cli(['runs', '--json', '--cache-dir', join(dir, 'cache')]);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { runId: string; status: string }[]).map((x) => [x.runId, x.status])).toEqual([[summary.runId, 'done']]);
  });

  it('resumes a cancelled run, reusing what it already made', async () => {
    const { r } = await runner();
    const controller = new AbortController();
    const cut = await r.run(small({ count: 4 }), {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'fileWritten') controller.abort();
      },
    });
    expect(cut.status).toBe('cancelled');
    expect(cut.imagesWritten.length).toBeGreaterThan(0);
    const resumed = await r.resume(cut.runId);
    expect(resumed.runId).toBe(cut.runId);
    expect(resumed.status).toBe('done');
    expect(resumed.cached).toBeGreaterThanOrEqual(cut.imagesWritten.length);
    expect(r.runs().find((x) => x.runId === cut.runId)?.status).toBe('done');
  });

  it('refuses to start a run whose estimate is over the budget, and records nothing', async () => {
    const { r } = await runner();
    await expect(r.run(EXAMPLE, { budgetUsd: 0.01 })).rejects.toMatchObject({ code: 'budget_exceeded', message: expect.stringMatching(/over the budget of \$0\.01; nothing was submitted/) });
    expect(r.runs()).toEqual([]);
  });

  it('prices a run with estimate, counting what the cache would serve at $0', async () => {
    const { r } = await runner();
    const before = await r.estimate(small());
    expect(before.calls).toBe(2);
    expect(before.totalUsd).toBeGreaterThan(0);
    await r.run(small());
    const after = await r.estimate(small());
    expect([after.calls, after.cached, after.totalUsd]).toEqual([0, 2, 0]);
  });

  it('throws an EngineError naming the node and param for an invalid pipeline, before anything runs', async () => {
    const { r } = await runner();
    await expect(r.run(small({ steps: 80 }))).rejects.toMatchObject({ name: 'EngineError', code: 'invalid_param', message: expect.stringMatching(/node "drafts".*steps/) });
    expect(r.runs()).toEqual([]);
    const checked = await r.validate(small({ steps: 80 }));
    expect(checked.ok).toBe(false);
    expect(checked.issues[0]).toMatchObject({ code: 'invalid_param', nodeId: 'drafts', param: 'steps' });
  });

  it('resolves relative reference paths against the pipeline file’s folder', async () => {
    const { r, dir } = await runner();
    const folder = join(dir, 'project');
    mkdirSync(folder);
    const file = join(folder, 'p.json');
    writeFileSync(file, JSON.stringify({ version: 1, nodes: [{ id: 'ref', type: 'reference-image', params: { source: 'missing.png' } }], edges: [] }));
    const checked = await r.validate(file);
    expect(checked.issues.map((i) => i.message).join('\n')).toContain(join(folder, 'missing.png'));
  });

  it('close() cancels a run still going, records it, and refuses new runs', async () => {
    const dir = tempDir('fluxgraph-runner-');
    const r = await createRunner({ cacheDir: join(dir, 'cache'), outDir: join(dir, 'out'), env: {}, onNotice: () => undefined });
    let started!: () => void;
    const running = new Promise<void>((done) => (started = done));
    const run = r.run(small({ count: 8 }), { onEvent: (e) => e.type === 'nodeStart' && e.nodeId === 'drafts' && started() });
    await running;
    await r.close();
    const summary = await run;
    expect(summary.status).toBe('cancelled');
    await expect(r.run(small())).rejects.toMatchObject({ code: 'usage', message: 'this runner is closed' });
    const ledger = Ledger.open(join(dir, 'cache', 'ledger.sqlite'));
    expect(ledger.getRun(summary.runId)?.status).toBe('cancelled');
    ledger.close();
  });

  it('the runner’s own signal cancels its runs', async () => {
    const controller = new AbortController();
    const { r } = await runner({ signal: controller.signal });
    const summary = await r.run(small({ count: 8 }), { onEvent: (e) => e.type === 'nodeStart' && e.nodeId === 'drafts' && controller.abort() });
    expect(summary.status).toBe('cancelled');
  });
});

describe('createRunner validates once', () => {
  it('hands its pre-flight result to the run: each node is checked once per run or resume, not again inside it', async () => {
    const { z } = await import('zod');
    const { defineNode } = await import('../../engine/core/define-node');
    const { NodeRegistry } = await import('../../engine/core/registry');
    const { createRegistry } = await import('../../nodes/index');
    let checks = 0;
    const counted = defineNode({
      type: 'counted',
      title: 'Counted',
      description: 'Passes its text on; counts how often it is checked.',
      version: 1,
      category: 'select',
      inputs: { text: { kind: 'text', required: true } },
      outputs: { text: { kind: 'text' } },
      params: z.strictObject({}),
      eachItemOf: 'text',
      check() {
        checks++;
        return [];
      },
      async run({ inputs }) {
        return { text: inputs.text[0] };
      },
    });
    const { r } = await runner({ registry: new NodeRegistry([...createRegistry().all(), counted as never]) });
    const doc: PipelineInput = {
      version: 1,
      nodes: [
        { id: 'src', type: 'prompt', params: { text: 'x' } },
        { id: 'c', type: 'counted', params: {} },
      ],
      edges: [{ source: 'src', sourceHandle: 'text', target: 'c', targetHandle: 'text' }],
    };
    const summary = await r.run(doc);
    expect(summary.status).toBe('done');
    expect(checks).toBe(1);
    checks = 0;
    await r.resume(summary.runId);
    expect(checks).toBe(1);
  });
});
