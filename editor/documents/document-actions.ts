/**
 * Opening and saving documents through the server: files inside --base-dir (the document then
 * knows its folder, so relative paths resolve as `fluxgraph run` resolves them), the example
 * templates, and the file `fluxgraph serve pipeline.json` was started with.
 */
import { api, ApiError } from '../api/client';
import type { DocumentSource } from '../api/types';
import { useCatalog } from '../state/catalog-store';
import { fileNameFor, pipelineText, readPipelineText } from '../state/document-io';
import { currentFlow, useEditor } from '../state/editor-store';
import { useRunStore } from '../state/run-store';
import { idleRun, isRunActive } from '../state/run-state';
import type { FlowNode } from '../flow/types';

/** Set by the shell: moves the viewport before a big graph renders (see App.tsx). */
let presetViewport: ((nodes: readonly FlowNode[]) => void) | undefined;

export function setViewportPreset(fn: typeof presetViewport): void {
  presetViewport = fn;
}

/** Opens a pipeline document's text on the canvas (checked like Open); false when it is not one. */
export function openPipelineText(
  text: string,
  label: string,
  fallbackName: string,
  source?: DocumentSource,
): { ok: true; nodes: number } | { ok: false } {
  const read = readPipelineText(text);
  if (!read.ok) {
    useEditor.getState().notify('error', `${label}: ${read.message}`);
    return { ok: false };
  }
  if (!isRunActive(useRunStore.getState().status)) useRunStore.getState().replace(idleRun);
  presetViewport?.(read.flow.nodes);
  useEditor.getState().load({ ...read.flow, name: read.flow.name ?? fallbackName }, source ? { source } : {});
  return { ok: true, nodes: read.flow.nodes.length };
}

function failed(what: string, e: unknown): void {
  useEditor.getState().notify('error', `${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/** Opens a file inside --base-dir by its path relative to it. */
export async function openServerFile(path: string): Promise<boolean> {
  try {
    const file = await api.readFile(path);
    const opened = openPipelineText(file.text, file.path, file.path.replace(/^.*\//, '').replace(/\.json$/i, ''), { kind: 'file', path: file.path });
    if (opened.ok) useEditor.getState().notify('info', `opened ${file.path} (${opened.nodes} nodes)`);
    return opened.ok;
  } catch (e) {
    failed(`could not open ${path}`, e);
    return false;
  }
}

export async function openTemplate(name: string): Promise<boolean> {
  try {
    const t = await api.template(name);
    const opened = openPipelineText(t.text, `template ${name}`, name, { kind: 'template', name });
    if (opened.ok) useEditor.getState().notify('info', `opened the "${name}" template (${opened.nodes} nodes): Save keeps a copy in your folder`);
    return opened.ok;
  } catch (e) {
    failed(`could not open the template ${name}`, e);
    return false;
  }
}

/** After a reload the editor shows the autosave; a file given to `fluxgraph serve` wins over it. */
export async function openStartupFile(): Promise<boolean> {
  try {
    const { path } = await api.opened();
    if (!path) return false;
    const s = useEditor.getState();
    // A reload keeps the edits made since (the autosave of that same file).
    if (s.source?.kind === 'file' && s.source.path === path && s.nodes.length > 0) return true;
    return await openServerFile(path);
  } catch {
    return false;
  }
}

export type SaveOutcome = { ok: true; path: string } | { ok: false; exists?: boolean; message: string };

/** Writes the document to `path` in --base-dir; an existing file only with `overwrite`. */
export async function saveToServer(path: string, overwrite: boolean): Promise<SaveOutcome> {
  const text = pipelineText(currentFlow(), useCatalog.getState().byType);
  try {
    const saved = await api.writeFile({ path, text, overwrite });
    useEditor.getState().setSource({ kind: 'file', path: saved.path });
    useEditor.getState().notify('info', `saved ${saved.path}`);
    return { ok: true, path: saved.path };
  } catch (e) {
    if (e instanceof ApiError && e.code === 'file_exists') return { ok: false, exists: true, message: e.message };
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

/** The path Save offers for a document not yet saved in --base-dir. */
export function suggestedPath(): string {
  const s = useEditor.getState();
  if (s.source?.kind === 'file') return s.source.path;
  return fileNameFor(s.name);
}
