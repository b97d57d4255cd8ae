import { describe, expect, it } from 'vitest';
import type { RunEvent, RunSummary } from '../../engine/core/events';
import { applyRunEvent, applyRunEvents, idleRun } from '../../editor/state/run-state';

const runId = 'r1';
const at = 0;
const image = (hash: string) => ({ kind: 'image' as const, image: { hash, mime: 'image/jpeg' as const, width: 64, height: 64 } });
const summary = (status: RunSummary['status']): RunSummary => ({
  runId,
  status,
  startedAt: 0,
  elapsedMs: 10,
  imagesWritten: [],
  failures: [],
  skipped: [],
  warnings: [],
  costUsd: 0,
  providerCalls: 0,
  nodes: {},
});

const start: RunEvent = { type: 'runStart', runId, at, nodes: [{ id: 'a', type: 'prompt' }, { id: 'b', type: 'flux-flex-generate' }, { id: 'c', type: 'save-image' }] };

describe('run events → node state', () => {
  it('queues every node at the start', () => {
    const s = applyRunEvent(idleRun, start);
    expect(s.status).toBe('running');
    expect(Object.values(s.nodes).map((n) => n.status)).toEqual(['queued', 'queued', 'queued']);
  });

  it('a progress event replaces only its own node, so only that node re-renders', () => {
    const before = applyRunEvents(idleRun, [start, { type: 'nodeStart', runId, at, nodeId: 'b' }]);
    const after = applyRunEvent(before, { type: 'nodeProgress', runId, at, nodeId: 'b', fraction: 0.5, status: 'Pending', itemsDone: 1, itemsRunning: 3 });
    expect(after.nodes.b).not.toBe(before.nodes.b);
    expect(after.nodes.a).toBe(before.nodes.a);
    expect(after.nodes.c).toBe(before.nodes.c);
    expect(after.nodes.b).toMatchObject({ status: 'running', fraction: 0.5, progressText: 'Pending', itemsDone: 1, itemsRunning: 3 });
  });

  it('collects images by item, and each image once in the gallery', () => {
    const s = applyRunEvents(idleRun, [
      start,
      { type: 'itemDone', runId, at, nodeId: 'b', item: 1, port: 'images', value: image('h1') },
      { type: 'itemDone', runId, at, nodeId: 'b', item: 0, port: 'images', value: image('h0') },
      { type: 'itemDone', runId, at, nodeId: 'c', item: 0, port: 'images', value: image('h0') },
      { type: 'nodeDone', runId, at, nodeId: 'b', status: 'done', items: 2, failed: 0, elapsedMs: 5 },
    ]);
    expect(s.nodes.b.images.map((i) => i.item)).toEqual([0, 1]);
    expect(s.nodes.b).toMatchObject({ status: 'done', itemsDone: 2, elapsedMs: 5 });
    expect(s.gallery.map((g) => g.image.hash)).toEqual(['h1', 'h0']);
  });

  it('shows a node failure with its reason, and item failures without failing the node', () => {
    const s = applyRunEvents(idleRun, [
      start,
      { type: 'nodeError', runId, at, nodeId: 'b', item: 2, code: 'moderated', message: 'draft 3 was moderated' },
      { type: 'nodeError', runId, at, nodeId: 'c', code: 'io', message: 'disk full' },
    ]);
    expect(s.nodes.b).toMatchObject({ status: 'queued', failed: 1, error: { code: 'moderated', item: 2 } });
    expect(s.nodes.c).toMatchObject({ status: 'failed', error: { code: 'io', message: 'disk full' } });
  });

  it('marks skipped nodes with the reason and counts files written', () => {
    const s = applyRunEvents(idleRun, [
      start,
      { type: 'nodeSkipped', runId, at, nodeId: 'b', reason: 'its input failed' },
      { type: 'fileWritten', runId, at, nodeId: 'c', item: 0, path: '/out/a.jpg', sidecar: '/out/a.json' },
    ]);
    expect(s.nodes.b).toMatchObject({ status: 'skipped', skippedReason: 'its input failed' });
    expect(s.nodes.c.files).toBe(1);
    expect(s.filesWritten).toEqual(['/out/a.jpg']);
  });

  it('ends unfinished nodes as cancelled when the run is stopped', () => {
    const s = applyRunEvents(idleRun, [start, { type: 'nodeStart', runId, at, nodeId: 'b' }, { type: 'runDone', runId, at, summary: summary('cancelled') }]);
    expect(s.status).toBe('cancelled');
    expect(Object.values(s.nodes).map((n) => n.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  it('ignores events of another run', () => {
    const s = applyRunEvent(idleRun, start);
    expect(applyRunEvent(s, { type: 'nodeStart', runId: 'other', at, nodeId: 'a' })).toBe(s);
  });
});
