/**
 * Whether a connection may be drawn, and if not, why (InvokeAI-style readable reasons). Pure:
 * the canvas calls it from React Flow's `isValidConnection` while the user drags and again when
 * the drag ends on a refused handle, to say why.
 */
import { wouldCreateCycle } from '../../engine/core/graph';
import type { Catalog } from './flow-mapping';
import type { EdgeEnds } from './types';

export type ConnectionRefusal = 'self' | 'direction' | 'unknown_node' | 'unknown_port' | 'kind' | 'list' | 'duplicate' | 'cycle';

export type ConnectionVerdict =
  | { ok: true; /** ids of edges the new one replaces (an input that takes one connection) */ replaces: string[] }
  | { ok: false; code: ConnectionRefusal; reason: string };

export interface GraphView {
  /** The pipeline node type of a node id. */
  typeOf(nodeId: string): string | undefined;
  edges: readonly (EdgeEnds & { id: string })[];
}

export interface HandleRef {
  nodeId: string;
  id?: string | null;
  type: 'source' | 'target';
}

/** Orients a drag (which may start on an input) into source → target, or says why it cannot. */
export function connectionFromHandles(from: HandleRef, to: HandleRef): EdgeEnds | { code: 'direction'; reason: string } {
  if (from.type === to.type) {
    return {
      code: 'direction',
      reason:
        from.type === 'source'
          ? 'both ends are outputs: connect an output (right side) to an input (left side)'
          : 'both ends are inputs: connect an output (right side) to an input (left side)',
    };
  }
  const [s, t] = from.type === 'source' ? [from, to] : [to, from];
  return { source: s.nodeId, sourceHandle: s.id ?? '', target: t.nodeId, targetHandle: t.id ?? '' };
}

export function checkConnection(c: EdgeEnds, graph: GraphView, catalog: Catalog): ConnectionVerdict {
  if (c.source === c.target) return { ok: false, code: 'self', reason: 'a node cannot be connected to itself' };
  const sourceType = graph.typeOf(c.source);
  const targetType = graph.typeOf(c.target);
  const sourceDesc = sourceType ? catalog.get(sourceType) : undefined;
  const targetDesc = targetType ? catalog.get(targetType) : undefined;
  if (!sourceDesc || !targetDesc) {
    const missing = !sourceDesc ? c.source : c.target;
    return { ok: false, code: 'unknown_node', reason: `node "${missing}" has an unknown type` };
  }
  const out = sourceDesc.outputs.find((p) => p.name === c.sourceHandle);
  if (!out) {
    const isInput = sourceDesc.inputs.some((p) => p.name === c.sourceHandle);
    return isInput
      ? { ok: false, code: 'direction', reason: 'connect an output (right side) to an input (left side)' }
      : { ok: false, code: 'unknown_port', reason: `"${c.source}" has no output "${c.sourceHandle}"` };
  }
  const input = targetDesc.inputs.find((p) => p.name === c.targetHandle);
  if (!input) {
    const isOutput = targetDesc.outputs.some((p) => p.name === c.targetHandle);
    return isOutput
      ? { ok: false, code: 'direction', reason: 'connect an output (right side) to an input (left side)' }
      : { ok: false, code: 'unknown_port', reason: `"${c.target}" has no input "${c.targetHandle}"` };
  }
  if (out.kind !== input.kind) {
    return {
      ok: false,
      code: 'kind',
      reason: `port kinds must match: output "${c.sourceHandle}" of "${c.source}" gives ${out.kind}, input "${c.targetHandle}" of "${c.target}" takes ${input.kind}`,
    };
  }
  if (out.list && !input.multiple) {
    return {
      ok: false,
      code: 'list',
      reason: `input "${c.targetHandle}" of "${c.target}" takes one ${input.kind}, but output "${c.sourceHandle}" of "${c.source}" gives a list`,
    };
  }
  const same = graph.edges.find(
    (e) => e.source === c.source && e.sourceHandle === c.sourceHandle && e.target === c.target && e.targetHandle === c.targetHandle,
  );
  if (same) {
    return { ok: false, code: 'duplicate', reason: `"${c.source}" ${c.sourceHandle} is already connected to "${c.target}" ${c.targetHandle}` };
  }
  if (wouldCreateCycle(graph.edges, c.source, c.target)) {
    return { ok: false, code: 'cycle', reason: `"${c.target}" already feeds "${c.source}": this connection would make a cycle` };
  }
  const replaces = input.multiple
    ? []
    : graph.edges.filter((e) => e.target === c.target && e.targetHandle === c.targetHandle).map((e) => e.id);
  return { ok: true, replaces };
}
