import { describe, expect, it } from 'vitest';
import { freeSpot, overlaps, pushApart, type Box } from '../../editor/flow/placement';

const size = { width: 240, height: 150 };
const box = (id: string, x: number, y: number, height = 150): Box => ({ id, x, y, width: 240, height });

describe('placing a new node', () => {
  it('lands at the centre when it is free', () => {
    expect(freeSpot([], { x: 120, y: 75 }, size)).toEqual({ x: 0, y: 0 });
  });

  it('lands next to, not on top of, the nodes around the centre', () => {
    const taken = [box('a', 0, 0), box('b', 300, 0), box('c', 0, 200)];
    const spot = freeSpot(taken, { x: 120, y: 75 }, size);
    for (const b of taken) expect(overlaps({ ...spot, ...size }, b)).toBe(false);
    expect(Math.hypot(spot.x, spot.y)).toBeLessThan(500);
  });

  it('each of many adds at the same centre finds its own spot', () => {
    const boxes: Box[] = [];
    for (let i = 0; i < 30; i++) boxes.push({ id: `n${i}`, ...freeSpot(boxes, { x: 0, y: 0 }, size), ...size });
    for (const a of boxes) for (const b of boxes) if (a !== b) expect(overlaps(a, b)).toBe(false);
  });
});

describe('a node that grows', () => {
  it('pushes the nodes it now covers down below it, in a cascade', () => {
    const boxes = [box('grown', 0, 0, 400), box('below', 0, 200), box('further', 0, 380), box('beside', 400, 200)];
    const moved = pushApart(boxes, new Set(['grown']));
    expect(moved.get('below')!.y).toBeGreaterThanOrEqual(400);
    expect(moved.get('further')!.y).toBeGreaterThanOrEqual(moved.get('below')!.y + 150);
    expect(moved.has('beside')).toBe(false);
    const after = boxes.map((b) => ({ ...b, ...moved.get(b.id) }));
    for (const a of after) for (const b of after) if (a !== b) expect(overlaps(a, b)).toBe(false);
  });

  it('moves nothing when nothing is covered', () => {
    expect(pushApart([box('a', 0, 0), box('b', 0, 300)], new Set(['a'])).size).toBe(0);
  });
});
