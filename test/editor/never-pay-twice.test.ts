import { describe, expect, it } from 'vitest';
import type { RunEvent, RunSummary } from '../../engine/core/events';
import type { NodeEstimate } from '../../editor/api/types';
import { upstreamOf } from '../../editor/flow/run-scope';
import { estimateText, formatUsd, nodeEstimateText } from '../../editor/state/estimate-store';
import { applyRunEvents, idleRun, isOutsideRun, seedSourceOf, startingRun, type RunState } from '../../editor/state/run-state';
import { handleShortcut, SHORTCUTS, type ShortcutActions } from '../../editor/shortcuts';

const at = 0;
const draft = (hash: string, nodeId = 'drafts') => ({ kind: 'image' as const, image: { hash, mime: 'image/jpeg' as const, width: 64, height: 64, meta: { nodeId } } });
const summary = (runId: string, nodes: RunSummary['nodes'] = {}, cached = 0): RunSummary => ({
  runId,
  status: 'done',
  startedAt: 0,
  elapsedMs: 10,
  imagesWritten: [],
  failures: [],
  skipped: [],
  warnings: [],
  costUsd: 0,
  providerCalls: 0,
  cached,
  nodes,
});
const NODES = ['idea', 'drafts', 'pick', 'refine', 'save'];
const EDGES = [
  { source: 'idea', target: 'drafts' },
  { source: 'drafts', target: 'pick' },
  { source: 'pick', target: 'refine' },
  { source: 'idea', target: 'refine' },
  { source: 'refine', target: 'save' },
];

function fullRun(runId: string): RunState {
  return applyRunEvents(idleRun, [
    { type: 'runStart', runId, at, nodes: NODES.map((id) => ({ id, type: 'x' })) },
    { type: 'itemDone', runId, at, nodeId: 'drafts', item: 0, port: 'images', value: draft('d0'), costUsd: 0.05 },
    { type: 'itemDone', runId, at, nodeId: 'drafts', item: 1, port: 'images', value: draft('d1'), costUsd: 0.05 },
    { type: 'itemDone', runId, at, nodeId: 'refine', item: 0, port: 'images', value: draft('r0', 'refine'), costUsd: 0.07 },
    ...NODES.map((nodeId): RunEvent => ({ type: 'nodeDone', runId, at, nodeId, status: 'done', items: 1, failed: 0, elapsedMs: 1 })),
    { type: 'runDone', runId, at, summary: summary(runId, { drafts: { status: 'done', items: 2, failed: 0, elapsedMs: 1, costUsd: 0.1 } }) },
  ]);
}

describe('cost and cache on the nodes', () => {
  it('adds up what each node paid, and takes the summary’s figure at the end', () => {
    const s = fullRun('r1');
    expect(s.nodes.drafts.costUsd).toBeCloseTo(0.1, 9);
    expect(s.nodes.refine.costUsd).toBeCloseTo(0.07, 9);
    expect(s.nodes.idea.costUsd).toBe(0);
  });

  it('counts cached items on the node that made them, not on a pick that passes them on', () => {
    const runId = 'r2';
    const s = applyRunEvents(idleRun, [
      { type: 'runStart', runId, at, nodes: NODES.map((id) => ({ id, type: 'x' })) },
      { type: 'itemDone', runId, at, nodeId: 'drafts', item: 0, port: 'images', value: draft('d0'), cached: true },
      { type: 'itemDone', runId, at, nodeId: 'drafts', item: 1, port: 'images', value: draft('d1'), costUsd: 0.05 },
      { type: 'itemDone', runId, at, nodeId: 'pick', item: 0, port: 'images', value: draft('d0'), cached: true },
    ]);
    expect(s.nodes.drafts).toMatchObject({ cached: 1, costUsd: 0.05 });
    expect(s.nodes.pick.cached).toBe(0);
    expect(s.nodes.drafts.images.map((i) => !!i.cached)).toEqual([true, false]);
    expect(s.gallery.map((g) => [g.image.hash, !!g.cached])).toEqual([
      ['d0', true],
      ['d1', false],
    ]);
  });
});

describe('run to here', () => {
  it('includes the node and everything upstream of it', () => {
    expect(upstreamOf(['pick'], EDGES).sort()).toEqual(['drafts', 'idea', 'pick']);
    expect(upstreamOf(['refine'], EDGES).sort()).toEqual(['drafts', 'idea', 'pick', 'refine']);
    expect(upstreamOf(['idea'], EDGES)).toEqual(['idea']);
  });

  it('resets the nodes it runs and keeps, dimmed, what the others showed', () => {
    const previous = fullRun('r1');
    const starting = startingRun({ only: ['pick'], scope: upstreamOf(['pick'], EDGES), previous });
    expect(Object.keys(starting.nodes).sort()).toEqual(['refine', 'save']);
    expect(starting.gallery.map((g) => g.image.hash)).toEqual(['r0']);

    const runId = 'r3';
    const s = applyRunEvents({ ...starting, runId }, [
      { type: 'runStart', runId, at, nodes: ['idea', 'drafts', 'pick'].map((id) => ({ id, type: 'x' })) },
      { type: 'itemDone', runId, at, nodeId: 'drafts', item: 0, port: 'images', value: draft('d0'), cached: true },
      { type: 'runDone', runId, at, summary: summary(runId, {}, 1) },
    ]);
    expect(s.only).toEqual(['pick']);
    expect(s.nodes.refine).toMatchObject({ outside: true, status: 'done', costUsd: 0.07 });
    expect(s.nodes.refine.images.map((i) => i.image.hash)).toEqual(['r0']);
    // Nodes the run includes but that never reported an end are settled; the outside ones are left alone.
    expect(s.nodes.pick.status).toBe('skipped');
    expect(s.nodes.drafts.cached).toBe(1);
    expect(s.nodes.drafts.outside).toBeUndefined();
    expect(s.gallery.map((g) => g.image.hash).sort()).toEqual(['d0', 'r0']);
    expect(['idea', 'drafts', 'pick', 'refine', 'save'].filter((id) => isOutsideRun(s, id))).toEqual(['refine', 'save']);
  });

  it('resets every node on a full run after a partial one', () => {
    const partial = { ...startingRun({ only: ['pick'], scope: ['idea', 'drafts', 'pick'], previous: fullRun('r1') }), runId: 'r4' };
    const s = applyRunEvents(startingRun(), [{ type: 'runStart', runId: 'r5', at, nodes: NODES.map((id) => ({ id, type: 'x' })) }]);
    expect(isOutsideRun(partial, 'refine')).toBe(true);
    expect(s.only).toBeUndefined();
    expect(NODES.some((id) => isOutsideRun(s, id))).toBe(false);
  });

  it('keeps the seeds of the run a run to here took them from, so the nodes it left out stay cached', () => {
    expect(seedSourceOf({ runId: 'full' })).toBe('full');
    expect(seedSourceOf({ runId: 'partial', only: ['pick'], seedsFrom: 'full' })).toBe('full');
    expect(seedSourceOf({ runId: 'partial', only: ['pick'] })).toBe('partial');
    const starting = { ...startingRun({ only: ['pick'], scope: ['idea', 'drafts', 'pick'], previous: fullRun('full') }), runId: 'p', seedsFrom: 'full' };
    const started = applyRunEvents(starting, [{ type: 'runStart', runId: 'p', at, nodes: [{ id: 'idea', type: 'x' }] }]);
    expect(seedSourceOf(started)).toBe('full');
  });

  it('has a shortcut, listed in the help', () => {
    const calls: string[] = [];
    const actions = new Proxy({} as ShortcutActions, { get: (_, name: string) => () => calls.push(name) });
    const key = (init: KeyboardEventInit) => ({ key: 'Enter', ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, target: null, ...init }) as unknown as KeyboardEvent;
    expect(handleShortcut(key({ ctrlKey: true, shiftKey: true }), actions)).toBe(true);
    expect(handleShortcut(key({ ctrlKey: true }), actions)).toBe(true);
    expect(calls).toEqual(['runToHere', 'run']);
    expect(SHORTCUTS.find((s) => s.keys === 'Ctrl+Shift+Enter')?.action).toMatch(/Run to here/);
  });
});

describe('estimate texts', () => {
  it.each([
    [{ totalUsd: 0.4, calls: 6, cached: 0, unpriced: 0 }, '≈ $0.40 · 6 calls'],
    [{ totalUsd: 0.14, calls: 2, cached: 4, unpriced: 0 }, '≈ $0.14 · 6 calls (4 cached)'],
    [{ totalUsd: 0, calls: 0, cached: 6, unpriced: 0 }, '≈ $0 · 6 calls (all cached)'],
    [{ totalUsd: 2.5, calls: 30, cached: 0, unpriced: 2 }, '≈ $2.50 + 2 unpriced · 30 calls'],
    [{ totalUsd: 0, calls: 0, cached: 0, unpriced: 0 }, 'no provider calls'],
  ])('%j → %s', (e, text) => {
    expect(estimateText(e)).toBe(text);
  });

  it.each([
    [{ calls: 4, cached: 0, usd: 0.2, unpriced: 0 }, '≈ $0.20 · 4 calls'],
    [{ calls: 0, cached: 4, usd: 0, unpriced: 0 }, '$0 · 4 cached'],
    [{ calls: 1, cached: 1, usd: 0.07, unpriced: 0 }, '≈ $0.07 · 1 call · 1 cached'],
  ])('node %j → %s', (n, text) => {
    expect(nodeEstimateText({ nodeId: 'x', providers: ['bfl'], ...n } as NodeEstimate)).toBe(text);
  });

  it('formats amounts', () => {
    expect([0, 0.05, 0.125, 1, 12.345, 0.1 + 0.2].map((usd) => formatUsd(usd))).toEqual(['$0', '$0.05', '$0.125', '$1.00', '$12.345', '$0.30']);
  });
});
