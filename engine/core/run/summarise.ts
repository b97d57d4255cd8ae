/** The last step of a run: its overall status, its money, and the `runDone` event. */
import type { RunSummary } from '../events';
import { fromMicros, type RunMoney } from '../money';
import type { RunState } from './run-state';

export async function summariseRun(run: RunState): Promise<RunSummary> {
  const { summary } = run;
  summary.elapsedMs = Date.now() - run.startedAt;
  summary.status = run.signal.aborted ? 'cancelled' : summary.failures.length === 0 && summary.skipped.length === 0 ? 'done' : anyPaidItemDone(run) ? 'partial' : 'failed';
  // Each node's own submits, whether or not their images arrived (a cancel leaves some on the wire).
  for (const [id, micros] of run.calls.costByNode) {
    const n = summary.nodes[id];
    if (n) n.costUsd = fromMicros(micros);
  }
  applyMoney(summary, await runMoney(run));
  run.emit({ type: 'runDone', runId: run.runId, at: Date.now(), summary });
  return summary;
}

/**
 * A run with provider nodes is failed when none of their items succeeded (a prompt node that
 * passed its text on is not success); without provider nodes, when no node made anything.
 */
function anyPaidItemDone(run: RunState): boolean {
  const states = [...run.states.values()];
  const paid = states.filter((s) => s.def.usesProvider);
  return (paid.length ? paid : states).some((s) => s.items > 0);
}

/** The ledger's account when there is one (every invocation of the run), else this invocation's. */
async function runMoney(run: RunState): Promise<RunMoney> {
  const stats = run.calls.stats;
  const own: RunMoney = {
    costMicros: stats.costMicros,
    costEstimated: stats.costEstimated,
    unconfirmedMicros: 0,
    unconfirmed: 0,
    calls: stats.submitted,
    shared: stats.shared,
    images: run.summary.imagesWritten.length,
  };
  const hooks = run.options.tasks;
  if (!hooks?.runMoney) return own;
  try {
    return await hooks.runMoney(run.runId);
  } catch {
    return own;
  }
}

export function applyMoney(summary: RunSummary, m: RunMoney): void {
  summary.costMicros = m.costMicros;
  summary.costUsd = fromMicros(m.costMicros);
  summary.costEstimated = m.costEstimated;
  summary.unconfirmed = m.unconfirmed;
  summary.unconfirmedMicros = m.unconfirmedMicros;
  summary.providerCalls = m.calls;
  summary.shared = m.shared;
  summary.images = m.images;
}
