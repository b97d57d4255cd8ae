/**
 * Which inputs of which nodes iterate over batch rows, derived from the node declarations alone:
 * an output port declared `iterates` (a list node's), or every output of a node without inputs
 * when the run binds rows from `--inputs`. An input fed by such an output is row-bound: the node
 * runs once per row (times its fan-out). Row-bound inputs whose rows the node's per-item input
 * already carries are tied to it (the refine of row 3's draft gets row 3's prompt); those from
 * other row sources meet by the node's `combine` (zip or product).
 */
import type { AnyNodeDefinition } from './define-node';
import type { Pipeline } from './pipeline-schema';
import type { NodeRegistry } from './registry';
import { INPUTS_SOURCE } from './rows';

export interface NodeBatchPlan {
  /** The row source this node reads rows from: its own (a list node) or the run's `--inputs`. */
  feed?: string;
  /** Row-bound input ports, grouped by the row source they follow (in port order). */
  bound: Map<string, string[]>;
  /** Row sources of `bound` that the per-item input's items already carry: paired by row. */
  tied: string[];
  /** The other row sources of `bound`: combined with each other (and the per-item input). */
  free: string[];
  combine: 'zip' | 'product';
  /** Row sources whose rows this node's output items carry. */
  carries: Set<string>;
}

export interface BatchPlanOptions {
  registry: NodeRegistry;
  /** The run binds rows to variables (`--inputs`): nodes without inputs run once per row. */
  inputs?: boolean;
}

export type BatchPlan = Map<string, NodeBatchPlan>;

/** Expects a valid, acyclic pipeline. */
export function planBatch(pipeline: Pipeline, o: BatchPlanOptions): BatchPlan {
  const defs = new Map<string, AnyNodeDefinition>();
  const params = new Map<string, unknown>();
  for (const n of pipeline.nodes) {
    const def = o.registry.get(n.type);
    if (!def) continue;
    defs.set(n.id, def);
    const parsed = def.params.safeParse(n.params);
    params.set(n.id, parsed.success ? parsed.data : {});
  }
  const wiresInto = new Map<string, { port: string; source: string; sourcePort: string }[]>();
  for (const e of pipeline.edges) {
    const list = wiresInto.get(e.target) ?? [];
    list.push({ port: e.targetHandle, source: e.source, sourcePort: e.sourceHandle });
    wiresInto.set(e.target, list);
  }
  const isRoot = (id: string) => !wiresInto.get(id)?.length;
  const feedOf = (id: string): string | undefined => (defs.get(id)?.rowSource ? id : o.inputs && isRoot(id) ? INPUTS_SOURCE : undefined);
  /** The row source an output port iterates over, if it does. */
  const iteratesOver = (id: string, port: string): string | undefined => {
    const out = defs.get(id)?.outputs[port];
    if (!out) return undefined;
    if (out.iterates) return feedOf(id) ?? id;
    return o.inputs && isRoot(id) ? INPUTS_SOURCE : undefined;
  };

  const plan: BatchPlan = new Map();
  // Sources before targets, without recursion: a 100,000-node chain is planned in one pass.
  const visit = (id: string): NodeBatchPlan => {
    const def = defs.get(id)!;
    const wires = wiresInto.get(id) ?? [];
    const ports = Object.keys(def.inputs);
    const bound = new Map<string, string[]>();
    const eachCarries = new Set<string>();
    for (const port of ports) {
      const into = wires.filter((w) => w.port === port);
      if (!into.length) continue;
      if (port === def.eachItemOf) {
        for (const w of into) for (const f of plan.get(w.source)?.carries ?? []) eachCarries.add(f);
        continue;
      }
      const feeds = new Set(into.map((w) => iteratesOver(w.source, w.sourcePort)));
      const [feed] = feeds;
      // Several edges into a list input aggregate, as they always did; one row source's values
      // pair by row (several edges from `--inputs` roots make one list per row).
      if (feeds.size !== 1 || feed === undefined || (into.length > 1 && feed !== INPUTS_SOURCE)) continue;
      bound.set(feed, [...(bound.get(feed) ?? []), port]);
    }
    const tied = [...bound.keys()].filter((f) => eachCarries.has(f));
    const free = [...bound.keys()].filter((f) => !eachCarries.has(f));
    const own = feedOf(id);
    const carries = new Set([...eachCarries, ...bound.keys(), ...(own ? [own] : [])]);
    const node: NodeBatchPlan = { ...(own ? { feed: own } : {}), bound, tied, free, combine: def.combine?.(params.get(id) as never) ?? 'zip', carries };
    plan.set(id, node);
    return node;
  };
  for (const id of topologicalOrder([...defs.keys()], pipeline.edges)) visit(id);
  return plan;
}

/** Node ids with every edge's source before its target (Kahn); expects an acyclic graph. */
export function topologicalOrder(ids: readonly string[], edges: readonly { source: string; target: string }[]): string[] {
  const known = new Set(ids);
  const indegree = new Map(ids.map((id) => [id, 0]));
  const out = new Map<string, string[]>();
  for (const e of edges) {
    if (!known.has(e.source) || !known.has(e.target)) continue;
    indegree.set(e.target, indegree.get(e.target)! + 1);
    const targets = out.get(e.source);
    if (targets) targets.push(e.target);
    else out.set(e.source, [e.target]);
  }
  const order = ids.filter((id) => indegree.get(id) === 0);
  for (let i = 0; i < order.length; i++) {
    for (const t of out.get(order[i]) ?? []) {
      const left = indegree.get(t)! - 1;
      indegree.set(t, left);
      if (left === 0) order.push(t);
    }
  }
  return order;
}

/** True when the run has rows at all (a list node, or `--inputs`). */
export function isBatch(plan: BatchPlan): boolean {
  for (const p of plan.values()) if (p.carries.size) return true;
  return false;
}
