/** The last step of a run: its overall status and the `runDone` event. */
import type { RunSummary } from '../events';
import type { RunState } from './run-state';

export function summariseRun(run: RunState): RunSummary {
  const { summary } = run;
  summary.elapsedMs = Date.now() - run.startedAt;
  summary.status = run.signal.aborted
    ? 'cancelled'
    : summary.failures.length === 0 && summary.skipped.length === 0
      ? 'done'
      : Object.values(summary.nodes).some((n) => n.items > 0)
        ? 'partial'
        : 'failed';
  run.emit({ type: 'runDone', runId: run.runId, at: Date.now(), summary });
  return summary;
}
