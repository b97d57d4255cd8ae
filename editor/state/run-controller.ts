/** Run, Run to here and Stop: start a run of the current document on the server and stream its events in. */
import { api, ApiError, followRun } from '../api/client';
import { flowToPipeline } from '../flow/flow-mapping';
import { upstreamOf } from '../flow/run-scope';
import { useCatalog } from './catalog-store';
import { currentFlow, useEditor } from './editor-store';
import { useIssues } from './issues-store';
import { useRunStore } from './run-store';
import { idleRun, isRunActive, seedSourceOf, startingRun } from './run-state';
import { useUi } from './ui-store';

let unfollow: (() => void) | undefined;

/**
 * Starts a run of the document. With `only` ("run to here"), just those nodes and what they
 * depend on run, with the previous run's seeds whatever the "keep seeds" setting, so the upstream
 * results come from the store; the other nodes keep what they show.
 */
export async function startRun(options: { only?: string[] } = {}): Promise<void> {
  if (isRunActive(useRunStore.getState().status)) return;
  const flow = currentFlow();
  if (flow.nodes.length === 0) {
    useEditor.getState().notify('error', 'add some nodes before running');
    return;
  }
  const only = options.only?.length ? options.only : undefined;
  if (only?.some((id) => !flow.nodes.some((n) => n.id === id))) return;
  const doc = flowToPipeline(flow, useCatalog.getState().byType);
  const previousRun = useRunStore.getState();
  const seedsFrom = only || useUi.getState().reuseSeeds ? seedSourceOf(previousRun) : undefined;
  const starting = () => (only ? startingRun({ only, scope: upstreamOf(only, flow.edges), previous: previousRun }) : startingRun());
  unfollow?.();
  useRunStore.getState().replace(starting());
  try {
    const source = useEditor.getState().source;
    const { runId } = await api.startRun({ pipeline: doc, ...(seedsFrom ? { seedsFrom } : {}), ...(only ? { only } : {}), ...(source ? { source } : {}) });
    useRunStore.getState().replace({ ...starting(), runId, ...(seedsFrom ? { seedsFrom } : {}) });
    follow(runId);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof ApiError && e.issues.length > 0) {
      useIssues.getState().setIssues(e.issues, flow.edges.map((x) => x.id));
      const errors = e.issues.filter((i) => i.severity === 'error').length;
      useEditor.getState().notify('error', `cannot run: ${errors} problem${errors === 1 ? '' : 's'} to fix (shown on the nodes)`, 'issues');
    } else {
      useEditor.getState().notify('error', `cannot run: ${message}`, 'run');
    }
    // A refused run to here leaves the previous run's state as it was.
    useRunStore.getState().replace(only ? { ...previousRun, error: message } : { ...idleRun, error: message });
  }
}

function follow(runId: string): void {
  unfollow = followRun(
    runId,
    (event) => useRunStore.getState().enqueue(event),
    (message) => {
      useRunStore.getState().flush();
      const s = useRunStore.getState();
      // The server went away mid-run: the run is cut off, and resumable from History.
      if (isRunActive(s.status)) useRunStore.getState().replace({ ...s, status: 'interrupted', error: message });
    },
  );
}

/**
 * Continues a resumable run (interrupted, stopped, partly done; the CLI's too) under its own id:
 * what it paid for is re-attached or taken from the store, the rest runs; its events stream in.
 */
export async function resumeRun(runId: string): Promise<void> {
  if (isRunActive(useRunStore.getState().status)) {
    useEditor.getState().notify('error', 'a run is in progress: stop it before resuming another', 'run');
    return;
  }
  unfollow?.();
  useRunStore.getState().replace({ ...startingRun(), runId });
  try {
    await api.resumeRun(runId);
    useUi.getState().setGalleryTab('images');
    useUi.getState().showHistoryRun(undefined);
    follow(runId);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof ApiError && e.issues.length > 0) {
      const errors = e.issues.filter((i) => i.severity === 'error');
      useEditor.getState().notify('error', `cannot resume ${runId}: ${errors[0]?.message ?? message}`, 'run');
    } else {
      useEditor.getState().notify('error', `cannot resume ${runId}: ${message}`, 'run');
    }
    useRunStore.getState().replace({ ...idleRun, error: message });
  }
}

/** After a reload, picks up a run still going on the server: its events replay from the start. */
export async function reattachToActiveRun(): Promise<void> {
  try {
    const { runs } = await api.runs();
    // Only this server's own runs stream their events here (a CLI run in progress does not).
    const active = runs.find((r) => r.status === 'running' && r.origin === 'editor');
    if (!active || isRunActive(useRunStore.getState().status)) return;
    useRunStore.getState().replace({ ...startingRun(), runId: active.runId, ...(active.only ? { only: active.only } : {}) });
    follow(active.runId);
  } catch {
    // no history: nothing to reattach to
  }
}

export async function stopRun(): Promise<void> {
  const { runId, status } = useRunStore.getState();
  if (!runId || !isRunActive(status)) return;
  try {
    await api.cancelRun(runId);
  } catch (e) {
    useEditor.getState().notify('error', `could not stop the run: ${e instanceof Error ? e.message : String(e)}`);
  }
}
