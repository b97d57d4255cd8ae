import { describe, expect, it } from 'vitest';
import { copyFragment, pasteFragment } from '../../editor/flow/clipboard';
import { pipelineToFlow } from '../../editor/flow/flow-mapping';
import { baseIdFor, isValidNodeId, nextNodeId } from '../../editor/flow/ids';
import { layoutGraph } from '../../editor/flow/layout';
import { isPicked, pickTargetOf, togglePick } from '../../editor/flow/picks';

const flow = pipelineToFlow({
  version: 1,
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'x' }, position: { x: 0, y: 0 } },
    { id: 'drafts', type: 'flux-flex-generate', params: { count: 4 }, position: { x: 300, y: 0 } },
    { id: 'pick', type: 'pick-images', params: { indices: [0] }, position: { x: 600, y: 0 } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'pick', targetHandle: 'images' },
  ],
});
const typeOf = (id: string) => flow.nodes.find((n) => n.id === id)?.data.type;

describe('copy and paste', () => {
  it('pastes the selected nodes and the edges between them under fresh ids', () => {
    const nodes = flow.nodes.map((n) => ({ ...n, selected: n.id !== 'pick' }));
    const fragment = copyFragment(nodes, flow.edges)!;
    expect(fragment.nodes.map((n) => n.id)).toEqual(['idea', 'drafts']);
    expect(fragment.edges).toHaveLength(1);
    const pasted = pasteFragment(fragment, nodes.map((n) => n.id), { x: 40, y: 40 });
    expect(pasted.nodes.map((n) => n.id)).toEqual(['idea-1', 'drafts-1']);
    expect(pasted.nodes[1].position).toEqual({ x: 340, y: 40 });
    expect(pasted.nodes[1].data.params).toEqual({ count: 4 });
    expect(pasted.nodes[1].data.params).not.toBe(fragment.nodes[1].params);
    expect(pasted.edges[0]).toMatchObject({ source: 'idea-1', target: 'drafts-1', sourceHandle: 'text', targetHandle: 'prompt' });
  });

  it('copies nothing when nothing is selected', () => {
    expect(copyFragment(flow.nodes, flow.edges)).toBeUndefined();
  });
});

describe('node ids', () => {
  it('makes readable unique ids', () => {
    expect(baseIdFor('flux-flex-generate')).toBe('flex-generate');
    const taken = new Set(['prompt-1']);
    expect(nextNodeId('prompt', taken)).toBe('prompt-2');
    expect(nextNodeId('prompt-2', taken)).toBe('prompt-3');
    expect(isValidNodeId('drafts.v2')).toBe(true);
    expect(isValidNodeId('two words')).toBe(false);
  });
});

describe('picking drafts', () => {
  it('finds the pick-images node a node feeds', () => {
    expect(pickTargetOf('drafts', flow.edges, typeOf)).toBe('pick');
    expect(pickTargetOf('idea', flow.edges, typeOf)).toBeUndefined();
  });

  it('does not pick when the pick node has several inputs (indices would be ambiguous)', () => {
    const edges = [...flow.edges, { source: 'other', sourceHandle: 'images', target: 'pick', targetHandle: 'images' }];
    expect(pickTargetOf('drafts', edges, typeOf)).toBeUndefined();
  });

  it('toggles indices, kept sorted', () => {
    expect(togglePick({ indices: [0] }, 2, 4)).toEqual({ indices: [0, 2] });
    expect(togglePick({ indices: [0, 2] }, 0, 4)).toEqual({ indices: [2] });
    expect(togglePick({}, 1, 4)).toEqual({ indices: [1] });
  });

  it('turns "all" into the explicit list minus the clicked draft', () => {
    expect(togglePick({ all: true }, 1, 4)).toEqual({ indices: [0, 2, 3] });
    expect(isPicked({ all: true }, 3)).toBe(true);
    expect(isPicked({ indices: [1] }, 3)).toBe(false);
  });
});

describe('auto-layout', () => {
  it('places nodes left to right without overlaps', () => {
    const positions = layoutGraph(flow.nodes.map((n) => ({ id: n.id, width: 240, height: 150 })), flow.edges);
    const [a, b, c] = ['idea', 'drafts', 'pick'].map((id) => positions.get(id)!);
    expect(a.x + 240).toBeLessThanOrEqual(b.x);
    expect(b.x + 240).toBeLessThanOrEqual(c.x);
  });
});
