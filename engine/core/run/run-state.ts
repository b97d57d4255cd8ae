/**
 * What one run holds while it runs: the shared run-level state (`RunState`) and one `NodeState`
 * per node. The steps of a run (prepare, run node, invoke item, node outcomes, summarise) are
 * functions over these, each in its own file.
 */
import type { BatchPlan } from '../batch-plan';
import type { AnyNodeDefinition } from '../define-node';
import type { NodeStatus, RunEvent, RunSummary } from '../events';
import type { ItemStream } from '../item-stream';
import type { Lanes } from '../lanes';
import type { Pipeline, PipelineNode } from '../pipeline-schema';
import type { ProviderCalls } from '../provider-calls';
import type { RunOptions } from '../run-options';
import type { RowFeed } from './row-feed';
import type { RowGroup } from './row-group';
import type { RowJoin } from './row-join';

/** One edge into a node's input port, seen from the target. */
export interface Wire {
  source: string;
  port: string;
}

export interface NodeState {
  node: PipelineNode;
  def: AnyNodeDefinition;
  params: unknown;
  inputs: Record<string, Wire[]>;
  outputs: Record<string, ItemStream>;
  /** `outputs` as a list, for the per-item pushes. */
  outputList: ItemStream[];
  seed: number;
  /** The seed came from an earlier run (resume, run-to-here): its requests may be reused. */
  seedReused: boolean;
  status: NodeStatus;
  started?: number;
  items: number;
  failed: number;
  running: number;
  cancelled: number;
  costUsd: number;
  // The node's progress through `runNode`, as counters (see run-node.ts).
  /** Wires into whole inputs that have not closed yet. */
  waitingWires: number;
  /** Wires into the `eachItemOf` input that have not closed yet. */
  openItemWires: number;
  /** Every input item has arrived (or the node takes none): it ends once `inFlight` is 0. */
  itemsIn: boolean;
  /** Invocations started and not yet settled. */
  inFlight: number;
  /** Items that arrived on the `eachItemOf` input. */
  seenItems: number;
  /** Their indices, kept only for a node that checks them (`afterItems`). */
  seen: number[] | undefined;
  /** Set when the node is to be skipped, not finished, once its invocations settle. */
  skipReason: string | undefined;
  /** The values of the whole inputs, shared by every invocation. */
  whole: Record<string, unknown>;
  fan: number;
  /** Row-bound inputs, one group per row source they follow (a batch). */
  groups: Map<string, RowGroup> | undefined;
  /** Where the groups not tied to the per-item input meet (zip or product). */
  join: RowJoin | undefined;
  /** Groups whose wires have not all closed yet. */
  openGroups: number;
  /** nodeDone was emitted (or the node failed as a whole): nothing more happens to it. */
  ended: boolean;
}

export interface RunState {
  runId: string;
  /** The validated pipeline being run (after `only`). */
  pipeline: Pipeline;
  options: RunOptions;
  signal: AbortSignal;
  startedAt: number;
  variables: Record<string, string>;
  /** The seed of every provider node, for provenance. */
  seeds: Record<string, number>;
  /** `ctx.pipeline`: the document and seeds that reproduce the run, one object for every invocation. */
  provenance: { name?: string; document: Pipeline; seeds: Record<string, number> };
  /** Validation warnings per node, attached to the images that node makes. */
  warningsByNode: Map<string, string[]>;
  summary: RunSummary;
  lanes: Lanes;
  calls: ProviderCalls;
  states: Map<string, NodeState>;
  emit: (e: RunEvent) => void;
  /** Which inputs iterate over batch rows (empty plans when the run is not a batch). */
  plan: BatchPlan;
  /** The row sources being read, by id (a list node's id, or `$inputs`). */
  feeds: Map<string, RowFeed>;
  /** Rows of the row sources a `product` numbers its rows by. */
  feedSizes: Map<string, number>;
  /** Nodes that have not ended yet; `allEnded` is called when it reaches 0. */
  nodesLeft: number;
  allEnded: () => void;
}

export function streamOf(run: RunState, w: Wire): ItemStream {
  return run.states.get(w.source)!.outputs[w.port];
}
