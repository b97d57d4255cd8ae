import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { TerminalProgress } from '../../engine/cli/progress';

describe('terminal progress', () => {
  it('draws a 200,000-node run, one line per node', () => {
    let written = '';
    const out = { columns: 80, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const progress = new TerminalProgress(out, (s) => s);
    const n = 200_000;
    const at = Date.now();
    progress.onEvent({ type: 'runStart', runId: 'r', at, nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type: 'prompt' })) });
    progress.onEvent({ type: 'nodeStart', runId: 'r', at, nodeId: 'n199999' });
    progress.onEvent({ type: 'nodeDone', runId: 'r', at, nodeId: 'n199999', status: 'done', items: 3, failed: 0, elapsedMs: 1500 });
    progress.onEvent({ type: 'runDone', runId: 'r', at, summary: {} as Extract<RunEvent, { type: 'runDone' }>['summary'] });
    const lines = written.split('\n');
    expect(lines).toHaveLength(n + 1);
    expect(lines[n - 1]).toContain('n199999  done      3 done');
    expect(lines[0]).toContain('n0 ');
  });
});

describe('the progress table counts what a node is doing', () => {
  const at = Date.now();
  const progress = (nodeId: string, item: number, status: string, itemsRunning: number, itemsDone = 0): RunEvent => ({ type: 'nodeProgress', runId: 'r', at, nodeId, item, status, itemsDone, itemsRunning });

  it('items waiting for a lane are queued, not running; the note is the statuses of the items still at work, not of the last item', () => {
    const out = { columns: 200, write: () => true } as unknown as NodeJS.WriteStream;
    const table = new TerminalProgress(out, (s) => s);
    table.onEvent({ type: 'runStart', runId: 'r', at, nodes: [{ id: 'drafts', type: 'flux-flex-generate' }] });
    table.onEvent({ type: 'nodeStart', runId: 'r', at, nodeId: 'drafts' });
    // Six items invoked; the lane has room for two, four wait.
    for (let i = 0; i < 6; i++) table.onEvent(progress('drafts', i, 'running', i + 1));
    table.onEvent(progress('drafts', 0, 'draft: submitting', 6));
    table.onEvent(progress('drafts', 1, 'draft: submitting', 6));
    for (let i = 2; i < 6; i++) table.onEvent(progress('drafts', i, 'draft: queued', 6));
    table.onEvent(progress('drafts', 0, 'draft: Pending', 6));
    table.onEvent(progress('drafts', 1, 'draft: Pending', 6));
    expect(table.lines()[0]).toMatch(/drafts\s+running\s+0 done, 2 running, 4 queued\s+\S+s {2}2 draft: Pending$/);
    // Item 0 is done and item 2 takes its slot: the last event is an item's "done", the node still works.
    table.onEvent(progress('drafts', 2, 'draft: submitting', 6));
    table.onEvent(progress('drafts', 0, 'done', 5, 1));
    expect(table.lines()[0]).toMatch(/1 done, 2 running, 3 queued\s+\S+s {2}1 draft: Pending, 1 draft: submitting$/);
    table.onEvent({ type: 'nodeError', runId: 'r', at, nodeId: 'drafts', item: 1, code: 'moderated', message: 'moderated' });
    table.onEvent({ type: 'nodeDone', runId: 'r', at, nodeId: 'drafts', status: 'partial', items: 5, failed: 1, elapsedMs: 3000 });
    expect(table.lines()[0]).toMatch(/drafts\s+partial\s+5 done, 1 failed\s+3\.0s$/);
  });

  it('the engine reports items waiting for a full lane as queued', async () => {
    const { runPipeline } = await import('../../engine/core/run-pipeline');
    const { pipelineSchema } = await import('../../engine/core/pipeline-schema');
    const { FileArtifactStore } = await import('../../engine/store/artifacts');
    const { createRegistry } = await import('../../nodes/index');
    const { fakeProvider, providerSet } = await import('../helpers/fake-provider');
    const { tempDir } = await import('../helpers/tmp');
    const { join } = await import('node:path');
    const dir = tempDir();
    const events: RunEvent[] = [];
    const doc = pipelineSchema.parse({
      version: 1,
      nodes: [
        { id: 'idea', type: 'prompt', params: { text: 'a fox' } },
        { id: 'drafts', type: 'flux-flex-generate', params: { width: 64, height: 64, count: 4, seed: 1 } },
      ],
      edges: [{ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' }],
    });
    const out = { columns: 200, write: () => true } as unknown as NodeJS.WriteStream;
    const table = new TerminalProgress(out, (s) => s);
    let seen = '';
    await runPipeline(doc, {
      registry: createRegistry(),
      providers: providerSet(fakeProvider({ latencyMs: 50 })),
      store: new FileArtifactStore(join(dir, 'store')),
      baseDir: dir,
      outDir: join(dir, 'out'),
      concurrency: { bfl: 1 },
      onEvent: (e) => {
        events.push(e);
        table.onEvent(e);
        if (e.type === 'nodeProgress' && e.nodeId === 'drafts' && /submitted$/.test(e.status ?? '') && !seen) seen = table.lines()[1];
      },
    });
    expect(events.filter((e) => e.type === 'nodeProgress' && /(^|: )queued$/.test(e.status ?? '')).length).toBe(3);
    // While the first is submitted, the other three wait for the one lane slot.
    expect(seen).toMatch(/0 done, 1 running, 3 queued/);
  });
});
