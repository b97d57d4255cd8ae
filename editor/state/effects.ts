/**
 * Side effects that follow the document: live validation by the engine's validator (through the
 * server), the cost estimate of the next run once the document is valid (and again after each
 * run), and autosave to local storage. All are debounced and run outside React.
 */
import { api, ApiError } from '../api/client';
import type { DocumentSource } from '../api/types';
import { validPart } from '../flow/estimate-scope';
import { flowToPipeline } from '../flow/flow-mapping';
import { useCatalog } from './catalog-store';
import { readPipelineText, pipelineText } from './document-io';
import { currentFlow, useEditor } from './editor-store';
import { useEstimate } from './estimate-store';
import { useIssues } from './issues-store';
import { useRunStore } from './run-store';
import { isRunActive, seedSourceOf } from './run-state';
import { useUi } from './ui-store';

export const AUTOSAVE_KEY = 'fluxgraph.editor.autosave.v1';
/** Where the autosaved document came from (a file or template), so it resolves the same after a reload. */
export const AUTOSAVE_SOURCE_KEY = 'fluxgraph.editor.autosave.source.v1';

function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

let validation: AbortController | undefined;

export async function validateNow(): Promise<void> {
  validation?.abort();
  const controller = new AbortController();
  validation = controller;
  const flow = currentFlow();
  const doc = flowToPipeline(flow, useCatalog.getState().byType);
  const edgeIds = flow.edges.map((e) => e.id);
  useIssues.getState().setChecking(true);
  try {
    const source = useEditor.getState().source;
    const res = await api.validate({ pipeline: doc, ...(source ? { source } : {}) }, controller.signal);
    if (validation === controller) useIssues.getState().setIssues(res.issues, edgeIds, res.folder);
  } catch (e) {
    if (!controller.signal.aborted) useIssues.getState().setChecking(false);
  }
}

let estimation: AbortController | undefined;

/**
 * Asks the server what the next run would cost, with the seeds Run would reuse (so what is
 * cached shows as free). Not while a run is going: its end triggers a fresh estimate.
 */
export async function estimateNow(): Promise<void> {
  estimation?.abort();
  estimation = undefined;
  const flow = currentFlow();
  const issues = useIssues.getState();
  if (flow.nodes.length === 0) {
    useEstimate.getState().clear();
    return;
  }
  const run = useRunStore.getState();
  if (isRunActive(run.status)) return;
  const whole = flowToPipeline(flow, useCatalog.getState().byType);
  // With errors, the part that can run is priced, and the estimate says what it leaves out.
  const hasErrors = issues.all.some((i) => i.severity === 'error');
  const scope = hasErrors ? validPart(whole, issues.all) : undefined;
  if (hasErrors && (!scope || scope.pipeline.nodes.length === 0)) {
    const errors = issues.all.filter((i) => i.severity === 'error').length;
    useEstimate.getState().setUnavailable(`no estimate: the pipeline has ${errors} error${errors === 1 ? '' : 's'} to fix`);
    return;
  }
  const partial = scope ? { left: scope.left, invalid: scope.invalid } : undefined;
  const doc = scope ? scope.pipeline : whole;
  const controller = new AbortController();
  estimation = controller;
  const seedsFrom = useUi.getState().reuseSeeds ? seedSourceOf(run) : undefined;
  useEstimate.getState().setLoading();
  try {
    const source = useEditor.getState().source;
    const estimate = await api.estimate({ pipeline: doc, ...(seedsFrom ? { seedsFrom } : {}), ...(source ? { source } : {}) }, controller.signal);
    if (estimation === controller) useEstimate.getState().setEstimate(estimate, partial);
  } catch (e) {
    if (controller.signal.aborted || estimation !== controller) return;
    // An invalid document has no estimate; the validator already says why.
    if (e instanceof ApiError && e.status === 422) useEstimate.getState().clear();
    else useEstimate.getState().setError(e instanceof Error ? e.message : String(e));
  }
}

/** Restores the autosaved document, if any. Returns true when one was restored. */
export function restoreAutosave(): boolean {
  let text: string | null = null;
  try {
    text = localStorage.getItem(AUTOSAVE_KEY);
  } catch {
    return false;
  }
  if (!text) return false;
  const read = readPipelineText(text);
  if (!read.ok) return false;
  let source: DocumentSource | undefined;
  try {
    const raw = localStorage.getItem(AUTOSAVE_SOURCE_KEY);
    source = raw ? (JSON.parse(raw) as DocumentSource) : undefined;
  } catch {
    source = undefined;
  }
  useEditor.getState().load(read.flow, { record: false, ...(source ? { source } : {}) });
  return true;
}

export function startEffects(): () => void {
  const validateSoon = debounce(() => void validateNow(), 250);
  const saveSoon = debounce(() => {
    try {
      localStorage.setItem(AUTOSAVE_KEY, pipelineText(currentFlow(), useCatalog.getState().byType));
      const source = useEditor.getState().source;
      if (source) localStorage.setItem(AUTOSAVE_SOURCE_KEY, JSON.stringify(source));
      else localStorage.removeItem(AUTOSAVE_SOURCE_KEY);
    } catch {
      // A full or disabled storage only loses the autosave; the editor keeps working.
    }
  }, 500);
  const unsubscribe = useEditor.subscribe((s, prev) => {
    if (s.graphRevision !== prev.graphRevision) validateSoon();
    if (s.revision !== prev.revision) saveSoon();
  });
  const unsubscribeCatalog = useCatalog.subscribe((s, prev) => {
    if (s.loaded && !prev.loaded) validateSoon();
  });
  const estimateSoon = debounce(() => void estimateNow(), 200);
  // A new validation result (the document changed) or the end of a run (its results are now
  // free) changes the estimate; so does whether Run reuses the last run's seeds.
  const unsubscribeIssues = useIssues.subscribe((s, prev) => {
    if (s.all === prev.all) return;
    estimateSoon();
    // "cannot run: 2 problems to fix" goes once they are fixed.
    if (!s.all.some((i) => i.severity === 'error')) useEditor.getState().dismissCause('issues');
  });
  const unsubscribeRun = useRunStore.subscribe((s, prev) => {
    if (isRunActive(prev.status) && !isRunActive(s.status)) estimateSoon();
    // A run that starts makes what the last one said about starting old news.
    if (!isRunActive(prev.status) && isRunActive(s.status)) useEditor.getState().dismissCause('run');
  });
  const unsubscribeUi = useUi.subscribe((s, prev) => {
    if (s.reuseSeeds !== prev.reuseSeeds) estimateSoon();
  });
  return () => {
    unsubscribe();
    unsubscribeCatalog();
    unsubscribeIssues();
    unsubscribeRun();
    unsubscribeUi();
  };
}
