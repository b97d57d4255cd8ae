import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { validatePipeline } from '../../engine/core/validate';
import { edgeId, flowToPipeline, pipelineToFlow, stringifyPipeline } from '../../editor/flow/flow-mapping';
import { readPipelineText } from '../../editor/state/document-io';
import { createRegistry } from '../../nodes/index';
import { catalog } from './catalog';

const example = JSON.parse(readFileSync(resolve(__dirname, '../../examples/draft-then-refine.json'), 'utf8')) as Pipeline;

describe('pipeline ⇄ canvas mapping', () => {
  it('round-trips the draft-then-refine example to an equal document', () => {
    const flow = pipelineToFlow(example);
    expect(flow.needsLayout).toBe(false);
    expect(flowToPipeline(flow, catalog)).toEqual(example);
  });

  it('copies edges as they are: a handle id is the port name', () => {
    const flow = pipelineToFlow(example);
    expect(flow.edges[0]).toMatchObject({ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' });
    expect(flow.nodes.find((n) => n.id === 'drafts')?.data).toEqual({ type: 'flux-flex-generate', params: example.nodes[1].params });
  });

  it('saves with a stable key order and no editor-only fields but position', () => {
    const flow = pipelineToFlow(example);
    flow.nodes = flow.nodes.map((n) => ({ ...n, selected: true, measured: { width: 240, height: 140 }, dragging: false }));
    flow.edges = flow.edges.map((e) => ({ ...e, selected: true, className: 'x', style: { stroke: 'red' } }));
    const doc = flowToPipeline(flow, catalog);
    expect(Object.keys(doc)).toEqual(['version', 'name', 'settings', 'nodes', 'edges']);
    for (const n of doc.nodes) expect(Object.keys(n)).toEqual(['id', 'type', 'params', 'position']);
    for (const e of doc.edges) expect(Object.keys(e)).toEqual(['source', 'sourceHandle', 'target', 'targetHandle']);
    expect(Object.keys(doc.nodes[1].params)).toEqual(['width', 'height', 'steps', 'guidance', 'seed', 'count']);
    expect(Object.keys(doc.settings!)).toEqual(['provider', 'concurrency', 'variables']);
  });

  it('writes the same text for the same document, whatever order params were set in', () => {
    const a = pipelineToFlow(example);
    const b = pipelineToFlow(example);
    b.nodes[1] = { ...b.nodes[1], data: { ...b.nodes[1].data, params: Object.fromEntries(Object.entries(b.nodes[1].data.params).reverse()) } };
    expect(stringifyPipeline(flowToPipeline(b, catalog))).toBe(stringifyPipeline(flowToPipeline(a, catalog)));
  });

  it('rounds positions and leaves out empty settings and a missing name', () => {
    const doc = flowToPipeline({
      settings: { concurrency: {}, variables: {} },
      nodes: [{ id: 'p', type: 'pipeline', position: { x: 10.4, y: -3.6 }, data: { type: 'prompt', params: { text: 'hi' } } }],
      edges: [],
    });
    expect(doc).toEqual({ version: 1, nodes: [{ id: 'p', type: 'prompt', params: { text: 'hi' }, position: { x: 10, y: -4 } }], edges: [] });
  });

  it('keeps an edge id the file had and adds none it did not', () => {
    const withId: Pipeline = { ...example, edges: [{ id: 'e1', ...example.edges[0] }, ...example.edges.slice(1)] };
    const doc = flowToPipeline(pipelineToFlow(withId), catalog);
    expect(doc.edges[0]).toEqual({ id: 'e1', ...example.edges[0] });
    expect(doc.edges[1]).not.toHaveProperty('id');
  });

  it('gives each canvas edge a unique id, even for a duplicated edge', () => {
    const dup: Pipeline = { ...example, edges: [example.edges[0], example.edges[0]] };
    const ids = pipelineToFlow(dup).edges.map((e) => e.id);
    expect(new Set(ids).size).toBe(2);
    expect(ids[0]).toBe(edgeId(example.edges[0]));
  });

  it('saves a document the engine validator accepts', () => {
    const doc = flowToPipeline(pipelineToFlow(example), catalog);
    const result = validatePipeline(JSON.parse(stringifyPipeline(doc)), { registry: createRegistry() });
    expect(result.issues.filter((i) => i.severity === 'error')).toEqual([]);
  });
});

describe('reading pipeline files', () => {
  it('lays out a file whose nodes have no positions', () => {
    const bare = { ...example, nodes: example.nodes.map(({ position: _, ...n }) => n) };
    const read = readPipelineText(JSON.stringify(bare));
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    const xs = new Map(read.flow.nodes.map((n) => [n.id, n.position.x]));
    // Left to right in the direction data flows.
    expect(xs.get('idea')!).toBeLessThan(xs.get('drafts')!);
    expect(xs.get('drafts')!).toBeLessThan(xs.get('pick')!);
    expect(xs.get('pick')!).toBeLessThan(xs.get('refine')!);
  });

  it('reads a file that starts with a byte-order mark, with keys such as "__proto__" kept as plain data', () => {
    const text = '\ufeff{"version": 1, "nodes": [{"id": "a", "type": "prompt", "params": {"__proto__": {"polluted": true}, "text": "x"}}], "edges": []}';
    const read = readPipelineText(text);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(Object.keys(read.flow.nodes[0].data.params)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['{"version": 1, "nodes": [', /line 1, column \d+/],
    ['[]', /JSON object/],
    ['{"version": 1}', /"nodes" array/],
    ['{"version": 1, "nodes": [{"id": 3}]}', /node 1 needs a string "id" and "type"/],
    // JSON.parse reads this as Infinity: the engine's parser is asked instead, and says why.
    ['{"version": 1, "nodes": [{"id": "a", "type": "prompt", "params": {"n": 1e309}}]}', /number too large.*line 1, column \d+|line 1, column \d+.*number too large/],
    ['{"version": 1, "nodes": [], // no comments\n "edges": []}', /line 1, column \d+/],
  ])('says what is wrong with %j', (text, message) => {
    const read = readPipelineText(text);
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.message).toMatch(message);
  });
});
