import { EngineError } from '../errors';
import type { Pipeline } from '../pipeline-schema';

/** The nodes listed and everything they depend on, with the edges between them. */
export function onlyUpTo(doc: Pipeline, targets: readonly string[]): Pipeline {
  const ids = new Set(doc.nodes.map((n) => n.id));
  for (const id of targets) {
    if (!ids.has(id)) {
      throw new EngineError('unknown_node', `cannot run up to node "${id}": no such node (nodes: ${doc.nodes.map((n) => n.id).join(', ')})`, { nodeId: id });
    }
  }
  const sources = new Map<string, string[]>();
  for (const e of doc.edges) {
    const list = sources.get(e.target);
    if (list) list.push(e.source);
    else sources.set(e.target, [e.source]);
  }
  const keep = new Set<string>();
  const todo = [...targets];
  while (todo.length) {
    const id = todo.pop()!;
    if (keep.has(id)) continue;
    keep.add(id);
    for (const source of sources.get(id) ?? []) todo.push(source);
  }
  return { ...doc, nodes: doc.nodes.filter((n) => keep.has(n.id)), edges: doc.edges.filter((e) => keep.has(e.source) && keep.has(e.target)) };
}
