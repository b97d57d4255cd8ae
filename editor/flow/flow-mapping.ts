/**
 * Pipeline document ⇄ canvas. Edges already use React Flow's field names, so the mapping is a
 * copy plus positions; saving rebuilds the document with a stable key order so that files diff
 * well and the CLI runs exactly what the editor saved.
 */
import type { NodeDescriptor } from '../../engine/core/describe';
import type { Pipeline, PipelineEdge, PipelineNode, PipelineSettings } from '../../engine/core/pipeline-schema';
import { FLOW_NODE_TYPE, type EdgeEnds, type FlowEdge, type FlowNode } from './types';

/** Canvas state that is saved: everything else (selection, run state) is not. */
export interface FlowDocument {
  name?: string;
  settings?: PipelineSettings;
  nodes: FlowNode[];
  edges: FlowEdge[];
}

export type Catalog = ReadonlyMap<string, NodeDescriptor>;

/** Deterministic edge id, so that the same connection is never added twice. */
export function edgeId(e: EdgeEnds): string {
  return `${e.source}:${e.sourceHandle}->${e.target}:${e.targetHandle}`;
}

export function toFlowNode(node: Pick<PipelineNode, 'id' | 'type' | 'params' | 'position'>): FlowNode {
  return {
    id: node.id,
    type: FLOW_NODE_TYPE,
    position: node.position ? { x: node.position.x, y: node.position.y } : { x: 0, y: 0 },
    data: { type: node.type, params: { ...(node.params ?? {}) } },
  };
}

export function toFlowEdge(edge: PipelineEdge): FlowEdge {
  const ends = { source: edge.source, sourceHandle: edge.sourceHandle, target: edge.target, targetHandle: edge.targetHandle };
  return {
    ...ends,
    id: edge.id ?? edgeId(ends),
    ...(edge.id ? { data: { keepId: true } } : {}),
  };
}

/** `needsLayout` is true when some node had no position: the caller lays the graph out. */
export function pipelineToFlow(doc: Pipeline): FlowDocument & { needsLayout: boolean } {
  const seen = new Set<string>();
  const edges: FlowEdge[] = [];
  for (const e of doc.edges ?? []) {
    const fe = toFlowEdge(e);
    // React Flow needs unique edge ids; a duplicated edge is reported by the validator instead.
    while (seen.has(fe.id)) fe.id = `${fe.id}'`;
    seen.add(fe.id);
    edges.push(fe);
  }
  return {
    ...(doc.name !== undefined ? { name: doc.name } : {}),
    ...(doc.settings ? { settings: doc.settings } : {}),
    nodes: doc.nodes.map(toFlowNode),
    edges,
    needsLayout: doc.nodes.some((n) => !n.position),
  };
}

function orderParams(params: Record<string, unknown>, descriptor: NodeDescriptor | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = descriptor?.params.map((p) => p.name) ?? [];
  for (const name of known) if (params[name] !== undefined) out[name] = params[name];
  for (const name of Object.keys(params).sort()) {
    if (!(name in out) && params[name] !== undefined) out[name] = params[name];
  }
  return out;
}

function sortedRecord<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!record || Object.keys(record).length === 0) return undefined;
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

function orderSettings(settings: PipelineSettings | undefined): PipelineSettings | undefined {
  if (!settings) return undefined;
  const out: PipelineSettings = {};
  if (settings.provider) out.provider = settings.provider;
  const concurrency = sortedRecord(settings.concurrency);
  if (concurrency) out.concurrency = concurrency;
  const variables = sortedRecord(settings.variables);
  if (variables) out.variables = variables;
  if (settings.taskTimeoutSec !== undefined) out.taskTimeoutSec = settings.taskTimeoutSec;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Rounds positions so a nudge of a fraction of a pixel does not show up in a diff. */
function roundPosition(p: { x: number; y: number }): { x: number; y: number } {
  return { x: Math.round(p.x), y: Math.round(p.y) };
}

/** The document as saved: version, name, settings, nodes, edges; no editor-only fields but `position`. */
export function flowToPipeline(flow: FlowDocument, catalog?: Catalog): Pipeline {
  const ordered: Record<string, unknown> = { version: 1 };
  if (flow.name) ordered.name = flow.name;
  const settings = orderSettings(flow.settings);
  if (settings) ordered.settings = settings;
  ordered.nodes = flow.nodes.map((n) => ({
    id: n.id,
    type: n.data.type,
    params: orderParams(n.data.params, catalog?.get(n.data.type)),
    position: roundPosition(n.position),
  }));
  ordered.edges = flow.edges.map((e) => ({
    ...(e.data?.keepId ? { id: e.id } : {}),
    source: e.source,
    sourceHandle: e.sourceHandle ?? '',
    target: e.target,
    targetHandle: e.targetHandle ?? '',
  }));
  return ordered as Pipeline;
}

/** Pretty JSON with a trailing newline, the format of the files under examples/. */
export function stringifyPipeline(doc: Pipeline): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
