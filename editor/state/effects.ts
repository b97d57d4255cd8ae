/**
 * Side effects that follow the document: live validation by the engine's validator (through the
 * server) and autosave to local storage. Both are debounced and run outside React.
 */
import { api } from '../api/client';
import { flowToPipeline } from '../flow/flow-mapping';
import { useCatalog } from './catalog-store';
import { readPipelineText, pipelineText } from './document-io';
import { currentFlow, useEditor } from './editor-store';
import { useIssues } from './issues-store';

export const AUTOSAVE_KEY = 'fluxgraph.editor.autosave.v1';

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
    const res = await api.validate(doc, controller.signal);
    if (validation === controller) useIssues.getState().setIssues(res.issues, edgeIds);
  } catch (e) {
    if (!controller.signal.aborted) useIssues.getState().setChecking(false);
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
  useEditor.getState().load(read.flow, { record: false });
  return true;
}

export function startEffects(): () => void {
  const validateSoon = debounce(() => void validateNow(), 250);
  const saveSoon = debounce(() => {
    try {
      localStorage.setItem(AUTOSAVE_KEY, pipelineText(currentFlow(), useCatalog.getState().byType));
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
  return () => {
    unsubscribe();
    unsubscribeCatalog();
  };
}
