import { describe, expect, it } from 'vitest';
import { edgesNear, stillInside, windowAround } from '../../editor/flow/culling';
import { fromMap, mapFrame, toMap, viewRect } from '../../editor/flow/overview';

const view = { x: 1000, y: 500, width: 800, height: 600 };

describe('the edges a big graph hands to React Flow', () => {
  it('keeps the edges whose ends span the window around the view, long ones across it included', () => {
    const boxes: Record<string, { x: number; y: number; width: number; height: number }> = {
      near: { x: 1100, y: 600, width: 240, height: 100 },
      nextDoor: { x: 2300, y: 600, width: 240, height: 100 },
      farLeft: { x: -5000, y: 700, width: 240, height: 100 },
      farRight: { x: 9000, y: 700, width: 240, height: 100 },
      farAway: { x: 9000, y: 9000, width: 240, height: 100 },
      farAway2: { x: 9500, y: 9000, width: 240, height: 100 },
    };
    const edges = [
      { id: 'in', source: 'near', target: 'nextDoor' },
      { id: 'across', source: 'farLeft', target: 'farRight' },
      { id: 'out', source: 'farAway', target: 'farAway2' },
      { id: 'dangling', source: 'near', target: 'missing' },
    ];
    const kept = edgesNear(edges, (id) => boxes[id], windowAround(view)).map((e) => e.id);
    expect(kept).toEqual(['in', 'across']);
  });

  it('works the edges out again only once the view leaves the middle of its window', () => {
    const window = windowAround(view);
    expect(window).toEqual({ x: 200, y: -100, width: 2400, height: 1800 });
    expect(stillInside(view, window)).toBe(true);
    expect(stillInside({ ...view, x: view.x + 390 }, window)).toBe(true);
    expect(stillInside({ ...view, x: view.x + 410 }, window)).toBe(false);
    expect(stillInside({ ...view, y: view.y - 310 }, window)).toBe(false);
    // Zoomed out to twice the area: a new window.
    expect(stillInside({ x: 600, y: 200, width: 1600, height: 1200 }, window)).toBe(false);
  });
});

describe('the minimap', () => {
  it('fits the graph into the map, centred, and maps points both ways', () => {
    const frame = mapFrame([{ x: 0, y: 0, width: 1000, height: 100 }, { x: 0, y: 900, width: 1000, height: 100 }], 200, 100);
    // 1000 × 1000 into 200 × 100 less the margins: the height decides.
    expect(frame.scale).toBeCloseTo(88 / 1000);
    const r = toMap(frame, { x: 0, y: 0, width: 1000, height: 1000 });
    expect(r.x + r.width / 2).toBeCloseTo(100);
    expect(r.y).toBeCloseTo(6);
    const p = fromMap(frame, r.x + r.width, r.y + r.height);
    expect(p.x).toBeCloseTo(1000);
    expect(p.y).toBeCloseTo(1000);
  });

  it("turns React Flow's transform into the canvas area the view shows", () => {
    expect(viewRect([-200, 100, 2], 800, 600)).toEqual({ x: 100, y: -50, width: 400, height: 300 });
  });
});
