import { describe, expect, it } from 'vitest';
import { findCycles, wouldCreateCycle } from '../../engine/core/graph';

const edges = (...pairs: string[]) => pairs.map((p) => ({ source: p[0], target: p[1] }));

describe('graph', () => {
  it('names the nodes of each cycle and ignores acyclic parts', () => {
    const cycles = findCycles(['a', 'b', 'c', 'd', 'e'], edges('ab', 'bc', 'ca', 'cd', 'ee'));
    expect(cycles.map((c) => [...c].sort().join(''))).toEqual(expect.arrayContaining(['abc', 'e']));
    expect(cycles).toHaveLength(2);
  });

  it.each([
    ['a self-loop', 'a', 'a', true],
    ['closing a loop', 'c', 'a', true],
    ['a forward edge', 'a', 'c', false],
    ['an edge to a new node', 'c', 'x', false],
  ])('wouldCreateCycle: %s', (_n, source, target, expected) => {
    expect(wouldCreateCycle(edges('ab', 'bc'), source, target)).toBe(expected);
  });
});
