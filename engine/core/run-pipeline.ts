/**
 * The streaming scheduler (design.md 1.5). Every node waits for its whole inputs, then runs once
 * per item of its `eachItemOf` input as each item arrives (times its fan-out), so a refine of
 * draft 1 starts while draft 3 is still generating. It never branches on node type: everything
 * it needs is in the node declarations.
 *
 * A run is a small object (`run/run-state.ts`) and named steps over it, one file each:
 * `prepareRun` → per node `watchInputs`, `beginItems` (`startNode`, `invokeItem` per item),
 * and `finishNode` (or `skipNode`, `cancelNode`) → `summariseRun`.
 */
import type { RunSummary } from './events';
import type { Pipeline } from './pipeline-schema';
import type { RunOptions } from './run-options';
import { prepareRun } from './run/prepare';
import { guarded } from './run/node-outcome';
import { beginItems, watchInputs } from './run/run-node';
import { summariseRun } from './run/summarise';

export { DEFAULT_TASK_TIMEOUT_MS } from './run/prepare';
export { newRunId } from './run/run-id';
export { onlyUpTo } from './run/only-up-to';

/** Runs a pipeline to the end (or cancellation) and returns its summary. Throws only for an invalid pipeline. */
export async function runPipeline(doc: Pipeline, options: RunOptions): Promise<RunSummary> {
  const run = await prepareRun(doc, options);
  run.emit({
    type: 'runStart',
    runId: run.runId,
    at: run.startedAt,
    ...(run.pipeline.name ? { pipeline: run.pipeline.name } : {}),
    nodes: run.pipeline.nodes.map((n) => ({ id: n.id, type: n.type })),
  });
  try {
    await new Promise<void>((resolve) => {
      run.allEnded = resolve;
      if (run.nodesLeft === 0) return resolve();
      for (const s of run.states.values()) watchInputs(run, s);
      // Nodes with no whole inputs start now, in document order; the others when their inputs close.
      for (const s of run.states.values()) if (s.waitingWires === 0) guarded(run, s, beginItems);
    });
  } finally {
    run.lanes.close();
  }
  return summariseRun(run);
}
