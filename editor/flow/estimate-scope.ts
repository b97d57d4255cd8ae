/**
 * The part of a document with errors that can still be priced: the nodes without errors that do
 * not depend on one. The estimate of that part is shown as partial, naming what it leaves out.
 */
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { Issue } from '../api/types';

export interface EstimateScope {
  pipeline: Pipeline;
  /** Nodes left out: with an error, or fed by one. */
  left: string[];
  /** Nodes with an error themselves. */
  invalid: string[];
}

/** Undefined when an error names no node (the document as a whole cannot be read). */
export function validPart(doc: Pipeline, issues: readonly Issue[]): EstimateScope | undefined {
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.some((i) => !i.nodeId)) return undefined;
  const invalid = [...new Set(errors.map((i) => i.nodeId!))];
  const out = new Set(invalid);
  // Whatever an invalid node feeds cannot run either.
  let grew = true;
  while (grew) {
    grew = false;
    for (const e of doc.edges) {
      if (out.has(e.source) && !out.has(e.target)) {
        out.add(e.target);
        grew = true;
      }
    }
  }
  const pipeline: Pipeline = {
    ...doc,
    nodes: doc.nodes.filter((n) => !out.has(n.id)),
    edges: doc.edges.filter((e) => !out.has(e.source) && !out.has(e.target)),
  };
  return { pipeline, left: doc.nodes.filter((n) => out.has(n.id)).map((n) => n.id), invalid };
}
