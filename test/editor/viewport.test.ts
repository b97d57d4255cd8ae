import { describe, expect, it } from 'vitest';
import { fitViewport, MAX_FIT_ZOOM, MIN_FIT_ZOOM, READABLE_TEXT_PX, SMALLEST_NODE_FONT_PX } from '../../editor/flow/viewport';

const at = (x: number, y: number) => ({ position: { x, y }, measured: { width: 240, height: 150 } });

describe('fit view', () => {
  it('never zooms below the scale where node text stays readable', () => {
    const big = Array.from({ length: 400 }, (_, i) => at((i % 20) * 330, Math.floor(i / 20) * 200));
    const v = fitViewport(big, 900, 600);
    expect(v.zoom).toBe(MIN_FIT_ZOOM);
    expect(SMALLEST_NODE_FONT_PX * v.zoom).toBeGreaterThanOrEqual(READABLE_TEXT_PX);
    // Too big to fit: the graph's start (top left) is in view.
    expect(v.x).toBeGreaterThan(0);
    expect(v.y).toBeGreaterThan(0);
    expect(v.x).toBeLessThan(100);
  });

  it('centres a small graph, not zoomed in past the maximum', () => {
    const v = fitViewport([at(0, 0)], 1000, 800);
    expect(v.zoom).toBe(MAX_FIT_ZOOM);
    expect(v.x + 120 * v.zoom).toBeCloseTo(500);
    expect(v.y + 75 * v.zoom).toBeCloseTo(400);
  });
});
