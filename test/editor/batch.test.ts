/** The editor's view of a batch: images keep their row, the gallery groups by row, the toolbar says the batch size. */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { byRow, rowGroups } from '../../editor/gallery/row-groups';
import { pickSlot, togglePick } from '../../editor/flow/picks';
import { estimateText } from '../../editor/state/estimate-store';
import { applyRunEvents, idleRun } from '../../editor/state/run-state';

const runId = 'r1';
const image = (hash: string) => ({ kind: 'image' as const, image: { hash, mime: 'image/jpeg' as const, width: 64, height: 64, meta: { nodeId: 'gen' } } });
const done = (item: number, row: number, hash: string): RunEvent => ({ type: 'itemDone', runId, at: 0, nodeId: 'gen', item, row: { n: row, fields: { sku: `S${row}` } }, port: 'images', value: image(hash) });

describe('batches in the editor', () => {
  it('an image keeps the row it was made for', () => {
    const s = applyRunEvents(idleRun, [{ type: 'runStart', runId, at: 0, nodes: [{ id: 'gen', type: 'flux-flex-generate' }] }, done(3, 2, 'b'), done(0, 1, 'a')]);
    expect(s.gallery.map((g) => [g.row, g.image.hash])).toEqual([
      [2, 'b'],
      [1, 'a'],
    ]);
  });

  it('the gallery orders images by row and heads each row once', () => {
    const images = [{ row: 2, id: 'b0' }, { row: 1, id: 'a0' }, { row: 2, id: 'b1' }, { row: 1, id: 'a1' }].sort(byRow);
    expect(images.map((i) => i.id)).toEqual(['a0', 'a1', 'b0', 'b1']);
    expect(rowGroups(images)).toEqual([
      { row: 1, start: 0, end: 2 },
      { row: 2, start: 2, end: 4 },
    ]);
    expect(rowGroups([{}, {}])).toEqual([{ row: undefined, start: 0, end: 2 }]);
  });

  it('the estimate line names the batch it is the total of', () => {
    expect(estimateText({ totalUsd: 0.36, calls: 36, cached: 0, unpriced: 0, batch: { rows: 12, sources: {} } })).toBe('≈ $0.36 · 36 calls · batch of 12 rows');
    expect(estimateText({ totalUsd: 0.03, calls: 3, cached: 0, unpriced: 0 })).toBe('≈ $0.03 · 3 calls');
  });

  it('a pick toggle in a batch counts the drafts of its own row, not the run', () => {
    const drafts = [0, 1, 2, 3, 4, 5].map((item) => ({ nodeId: 'gen', item, row: Math.floor(item / 2) + 1, local: item % 2 }));
    expect(pickSlot(drafts[5], drafts)).toEqual({ index: 1, count: 2 });
    expect(togglePick({ indices: [0] }, pickSlot(drafts[5], drafts).index, 2)).toEqual({ indices: [0, 1] });
    // Outside a batch the item is the index.
    expect(pickSlot({ nodeId: 'gen', item: 3 }, [{ nodeId: 'gen' }, { nodeId: 'gen' }, { nodeId: 'gen' }, { nodeId: 'gen' }])).toEqual({ index: 3, count: 4 });
  });

  it('an image keeps its index within its row from the event', () => {
    const ev = (item: number, row: number, local: number): RunEvent => ({ ...(done(item, row, `h${item}`) as Extract<RunEvent, { type: 'itemDone' }>), row: { n: row, fields: {}, local } });
    const s = applyRunEvents(idleRun, [{ type: 'runStart', runId, at: 0, nodes: [{ id: 'gen', type: 'flux-flex-generate' }] }, ev(4, 3, 0), ev(5, 3, 1)]);
    expect(s.gallery.map((g) => [g.item, g.row, g.local])).toEqual([
      [4, 3, 0],
      [5, 3, 1],
    ]);
  });
});
