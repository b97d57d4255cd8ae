/**
 * The editor's shell: toolbar, palette, canvas, inspector, gallery, and the document actions
 * (open, save, layout, run, stop) that the toolbar and the keyboard share.
 */
import { ReactFlowProvider, useReactFlow, type XYPosition } from '@xyflow/react';
import { useCallback, useEffect, useRef } from 'react';
import { api, ApiError } from './api/client';
import { Canvas, isImageFile, Overview } from './canvas/Canvas';
import { addReferenceImage, REFERENCE_TYPE, setReferenceImage } from './documents/reference-images';
import { Palette } from './canvas/Palette';
import { isFragment, type Fragment } from './flow/clipboard';
import { fitReadable } from './canvas/fit';
import { layoutWithRoutes } from './flow/layout';
import type { FlowEdge, FlowNode } from './flow/types';
import { Gallery, Preview } from './gallery/Gallery';
import { DocumentsDialog } from './documents/DocumentsDialog';
import { openPipelineText, saveToServer, setViewportPreset } from './documents/document-actions';
import { Inspector } from './inspector/Inspector';
import { useCatalog } from './state/catalog-store';
import { downloadText, fileNameFor, pipelineText } from './state/document-io';
import { currentFlow, useEditor } from './state/editor-store';
import { estimateText, formatUsd, useEstimate } from './state/estimate-store';
import { SessionCaps } from './gallery/AccountLoads';
import { formatCost, summaryMoney } from '../engine/core/money';
import { startRun, stopRun } from './state/run-controller';
import { useRunStore } from './state/run-store';
import { isRunActive, type RunState } from './state/run-state';
import { useUi } from './state/ui-store';
import { handleShortcut, SHORTCUTS } from './shortcuts';

let clipboard: Fragment | undefined;

async function openFile(file: File): Promise<void> {
  let text: string;
  try {
    text = await file.text();
  } catch (e) {
    useEditor.getState().notify('error', `could not read ${file.name}: ${(e as Error).message}`);
    return;
  }
  const opened = openPipelineText(text, file.name, file.name.replace(/\.json$/i, ''));
  if (opened.ok) useEditor.getState().notify('info', `opened ${file.name} (${opened.nodes} nodes)`);
}

/** The server reads images up to this size (POST /api/provenance). */
const MAX_IMAGE_BYTES = 40 * 1024 * 1024;

/**
 * Opens the pipeline an image saved by fluxgraph carries (with the seeds its run drew), and
 * selects the node that made the image.
 */
async function openImage(file: File, at?: XYPosition): Promise<void> {
  const notify = useEditor.getState().notify;
  if (file.size > MAX_IMAGE_BYTES) {
    notify('error', `${file.name} is larger than ${MAX_IMAGE_BYTES / 1024 / 1024} MB`);
    return;
  }
  let record;
  try {
    record = await api.provenance(await file.arrayBuffer());
  } catch (e) {
    // Not an image fluxgraph saved: it becomes a reference image where it was dropped.
    if (e instanceof ApiError && e.code === 'no_provenance') await addReferenceImage(file, at ?? viewCentre());
    else notify('error', `could not read ${file.name}: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const opened = openPipelineText(JSON.stringify(record.pipeline), `the pipeline in ${file.name}`, file.name.replace(/\.\w+$/, ''));
  if (!opened.ok) return;
  if (record.nodeId && useEditor.getState().nodes.some((n) => n.id === record.nodeId)) useEditor.getState().selectOnly(record.nodeId);
  const made = record.nodeId ? `, made by "${record.nodeId}"${record.item !== undefined ? ` (image ${record.item}` : ''}${record.seed !== undefined ? `, seed ${record.seed}` : ''}${record.item !== undefined ? ')' : ''}` : '';
  notify('info', `opened the pipeline of ${file.name}${record.runId ? ` from run ${record.runId}` : ''}${made}`);
}

/** Set by the shell: the canvas position at the middle of the view. */
let viewCentre: () => XYPosition = () => ({ x: 0, y: 0 });

/** A pasted image: the selected reference-image node's image, or a new reference-image node. */
function pasteImage(file: File): void {
  const s = useEditor.getState();
  const selected = s.selectedId ? s.nodes.find((n) => n.id === s.selectedId) : undefined;
  if (selected?.data.type === REFERENCE_TYPE) void setReferenceImage(selected.id, file);
  else void addReferenceImage(file, viewCentre());
}

/** Runs the selected node and what it depends on. */
function runToSelected(): void {
  const id = useEditor.getState().selectedId;
  if (!id) {
    useEditor.getState().notify('error', 'select a node to run to (or right-click it: Run to here)');
    return;
  }
  void startRun({ only: [id] });
}

function downloadPipeline(): void {
  const flow = currentFlow();
  downloadText(pipelineText(flow, useCatalog.getState().byType), fileNameFor(flow.name));
}

/** Save: back to the file it came from in the base folder, or ask where (Save dialog). */
function savePipeline(): void {
  const source = useEditor.getState().source;
  if (source?.kind === 'file') {
    void saveToServer(source.path, true).then((o) => {
      if (!o.ok) useEditor.getState().notify('error', `could not save ${source.path}: ${o.message}`);
    });
  } else {
    useUi.getState().setDocumentsDialog('save');
  }
}

function openDialog(): void {
  useUi.getState().setDocumentsDialog('open');
}

function autoLayout(): void {
  const { nodes, edges } = useEditor.getState();
  if (nodes.length === 0) return;
  const { positions, routes } = layoutWithRoutes(
    nodes.map((n) => ({ id: n.id, width: n.measured?.width, height: n.measured?.height })),
    edges,
  );
  useEditor.getState().setPositions(positions, new Map(edges.map((e, i) => [e.id, routes[i]])));
}

function runStatusText(run: RunState): string {
  // A run to here keeps the other nodes' earlier images on show; they are not this run's.
  const imageCount = run.only ? run.gallery.filter((g) => !run.nodes[g.nodeId]?.outside).length : run.gallery.length;
  switch (run.status) {
    case 'idle':
      return run.error ? `Not started: ${run.error}` : 'Ready';
    case 'starting':
      return 'Starting…';
    case 'running': {
      const all = Object.values(run.nodes).filter((n) => !n.outside);
      const finished = all.filter((n) => n.status !== 'queued' && n.status !== 'running').length;
      const scope = run.only ? ` to ${run.only.map((id) => `"${id}"`).join(', ')}` : '';
      return `Running${scope}… ${finished}/${all.length} nodes finished · ${imageCount} images`;
    }
    default: {
      const s = run.summary;
      const took = s ? ` in ${(s.elapsedMs / 1000).toFixed(1)} s` : '';
      const images = ` · ${imageCount} images`;
      const failed = s?.failures.length ? ` · ${s.failures.length} failed` : '';
      const cost = s && (s.costUsd > 0 || (s.unconfirmedMicros ?? 0) > 0) ? ` · ${formatCost(summaryMoney(s))}` : '';
      const label = { done: 'Done', partial: 'Partly done', failed: 'Failed', cancelled: 'Stopped', interrupted: 'Interrupted' }[run.status];
      const cached = s?.cached ? ` · ${s.cached} cached` : '';
      const scope = run.only ? ` (to ${run.only.map((id) => `"${id}"`).join(', ')})` : '';
      return `${label}${scope}${took}${images}${cached}${failed}${cost}${run.error ? ` · ${run.error}` : ''}`;
    }
  }
}

function RunStatus() {
  const run = useRunStore((s) => s);
  return (
    <span className="fg-run-status" role="status" aria-live="polite" data-run-status={run.status}>
      {runStatusText(run)}
    </span>
  );
}

/** The next run's estimated cost, next to Run; the breakdown per node in its tooltip. */
function EstimateLabel() {
  const estimate = useEstimate((s) => s.estimate);
  const status = useEstimate((s) => s.status);
  const error = useEstimate((s) => s.error);
  const partial = useEstimate((s) => s.partial);
  const reason = useEstimate((s) => s.reason);
  if (status === 'unavailable') {
    return (
      <span className="fg-estimate fg-estimate-partial" data-testid="estimate" data-state="unavailable">
        {reason}
      </span>
    );
  }
  if (status === 'error') {
    return (
      <span className="fg-estimate" data-testid="estimate" data-state="error" title={error}>
        no estimate
      </span>
    );
  }
  if (!estimate) {
    return status === 'loading' ? (
      <span className="fg-estimate" data-testid="estimate" data-state="loading">
        estimating…
      </span>
    ) : null;
  }
  const lines = [
    'Estimated cost of the next run (cached items are free):',
    ...estimate.nodes.map((n) => `  ${n.nodeId}: ${n.calls ? `${formatUsd(n.usd)} for ${n.calls} call${n.calls === 1 ? '' : 's'}` : '$0'}${n.cached ? `, ${n.cached} cached` : ''}`),
    ...(estimate.unpriced ? [`${estimate.unpriced} call(s) have no known price`] : []),
    ...estimate.warnings,
    ...(partial ? [`Partial: ${partial.left.map((id) => `"${id}"`).join(', ')} left out until the errors on ${partial.invalid.map((id) => `"${id}"`).join(', ')} are fixed`] : []),
  ];
  const left = partial?.left.length ?? 0;
  return (
    <span
      className={`fg-estimate${partial ? ' fg-estimate-partial' : ''}`}
      data-testid="estimate"
      data-state={status}
      data-partial={partial ? 'true' : undefined}
      data-usd={estimate.totalUsd}
      data-calls={estimate.calls}
      data-cached={estimate.cached}
      title={lines.join('\n')}
    >
      {estimateText(estimate)}
      {partial ? ` · partial: ${left} node${left === 1 ? '' : 's'} with errors not counted` : ''}
    </span>
  );
}

function DocName() {
  const name = useEditor((s) => s.name);
  const source = useEditor((s) => s.source);
  const where = source?.kind === 'file' ? source.path : source?.kind === 'template' ? `template ${source.name} (not saved)` : 'not saved in the base folder';
  return (
    <span className="fg-doc-name" title={`Pipeline name (edit it in the pipeline settings) · ${where}`} data-source={source?.kind === 'file' ? source.path : undefined}>
      {name || 'untitled'}
      <span className="fg-muted fg-doc-path">{source?.kind === 'file' ? ` · ${source.path}` : ''}</span>
    </span>
  );
}

function Toolbar({ onOpen }: { onOpen(): void }) {
  const status = useRunStore((s) => s.status);
  const canUndo = useEditor((s) => s.history.past.length > 0);
  const canRedo = useEditor((s) => s.history.future.length > 0);
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const active = isRunActive(status);
  return (
    <header className="fg-toolbar" role="toolbar" aria-label="Editor">
      <span className="fg-logo">
        flux<b>graph</b>
      </span>
      <DocName />
      <div className="fg-group">
        <button type="button" onClick={onOpen} title="Open a pipeline from the server's base folder, a template, or this computer (Ctrl+O)">
          Open
        </button>
        <button type="button" onClick={savePipeline} title="Save the pipeline in the server's base folder (Ctrl+S)">
          Save
        </button>
        <button type="button" onClick={downloadPipeline} title="Download the pipeline as a JSON file">
          Download
        </button>
      </div>
      <div className="fg-group">
        <button type="button" onClick={() => useEditor.getState().undo()} disabled={!canUndo} title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" onClick={() => useEditor.getState().redo()} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">
          Redo
        </button>
      </div>
      <div className="fg-group">
        <button type="button" onClick={autoLayout} title="Auto-layout (L)">
          Layout
        </button>
        <button type="button" onClick={() => fitReadable(flow, { duration: 200 })} title="Fit the view (F)">
          Fit
        </button>
      </div>
      <div className="fg-group">
        <button type="button" className="fg-run" onClick={() => void startRun()} disabled={active} title="Run the pipeline (Ctrl+Enter)">
          Run
        </button>
        <button type="button" className="fg-stop" onClick={() => void stopRun()} disabled={!active} title="Stop the run (Ctrl+.)">
          Stop
        </button>
        <EstimateLabel />
        <SessionCaps />
      </div>
      <RunStatus />
      <span className="fg-spacer" />
      <button type="button" className="fg-help-button" onClick={() => useUi.getState().setHelpOpen(true)} title="Keyboard shortcuts (?)" aria-label="Help">
        ?
      </button>
    </header>
  );
}

function HelpPanel() {
  const open = useUi((s) => s.helpOpen);
  if (!open) return null;
  return (
    <div className="fg-modal-backdrop" onClick={() => useUi.getState().setHelpOpen(false)}>
      <div className="fg-help" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={(e) => e.stopPropagation()}>
        <h2>Keyboard shortcuts</h2>
        <table>
          <tbody>
            {SHORTCUTS.map((s) => (
              <tr key={s.keys}>
                <td>
                  <kbd>{s.keys}</kbd>
                </td>
                <td>{s.action}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h3>Run to here</h3>
        <p>
          Right-click a node and choose <b>Run to here</b> (or select it and press <kbd>Ctrl+Shift+Enter</kbd>): only that node and what it depends on run, and the
          upstream results of the last run come from the cache, free. The other nodes are dimmed and keep what they showed.
        </p>
        <h3>Opening a saved image</h3>
        <p>Every image fluxgraph saves carries the pipeline that made it, seeds included: drop it on the canvas to open that pipeline.</p>
        <h3>Picking drafts</h3>
        <p>
          After a run, click the draft thumbnails on a node that feeds a <b>Pick images</b> node: the pick node's <code>indices</code> follow your clicks.
          Run again to refine the picked drafts.
        </p>
        <button type="button" onClick={() => useUi.getState().setHelpOpen(false)}>
          Close
        </button>
      </div>
    </div>
  );
}

function Notices() {
  const notice = useEditor((s) => s.notice);
  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => useEditor.getState().dismissNotice(notice.id), notice.kind === 'error' ? 8000 : 4000);
    return () => clearTimeout(t);
  }, [notice]);
  if (!notice) return null;
  return (
    <div className={`fg-notice fg-notice-${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'} data-testid="notice">
      <span>{notice.text}</span>
      <button type="button" className="fg-link" onClick={() => useEditor.getState().dismissNotice(notice.id)} aria-label="Dismiss">
        ×
      </button>
    </div>
  );
}

function Shell() {
  const fileInput = useRef<HTMLInputElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const loaded = useCatalog((s) => s.loaded);
  const catalogError = useCatalog((s) => s.error);

  const pickLocalFile = useCallback(() => fileInput.current?.click(), []);

  useEffect(() => {
    // A big graph is first drawn at its final zoom (in compact form), not twice.
    setViewportPreset((nodes) => fitReadable(flow, { nodes }));
    viewCentre = () => {
      const box = document.querySelector('.fg-canvas')?.getBoundingClientRect();
      return box ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 }) : { x: 0, y: 0 };
    };
    // Pasting an image (not into a text field) adds it as a reference image.
    const onPaste = (e: ClipboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target?.closest?.('input, textarea, [contenteditable="true"]')) return;
      const image = [...(e.clipboardData?.files ?? [])].find(isImageFile);
      if (!image) return;
      e.preventDefault();
      pasteImage(image);
    };
    window.addEventListener('paste', onPaste);
    return () => {
      setViewportPreset(undefined);
      window.removeEventListener('paste', onPaste);
    };
  }, [flow]);

  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      const editor = useEditor.getState();
      const handled = handleShortcut(e, {
        undo: () => editor.undo(),
        redo: () => editor.redo(),
        copy: (cut) => {
          const fragment = editor.copySelection();
          if (!fragment) return;
          clipboard = fragment;
          void navigator.clipboard?.writeText(JSON.stringify(fragment, null, 2)).catch(() => undefined);
          if (cut) editor.deleteSelection();
        },
        paste: () => {
          if (clipboard && isFragment(clipboard)) editor.paste(clipboard);
        },
        duplicate: () => {
          const fragment = editor.copySelection();
          if (fragment) editor.paste(fragment);
        },
        remove: () => editor.deleteSelection(),
        selectAll: () => editor.selectAll(),
        escape: () => {
          useUi.getState().setHelpOpen(false);
          useUi.getState().setDocumentsDialog(undefined);
          editor.selectOnly(undefined);
        },
        open: openDialog,
        save: savePipeline,
        run: () => void startRun(),
        runToHere: runToSelected,
        stop: () => void stopRun(),
        layout: autoLayout,
        fit: () => fitReadable(flow, { duration: 200 }),
        search: () => searchRef.current?.focus(),
        help: () => useUi.getState().setHelpOpen(true),
      });
      if (handled) e.preventDefault();
    };
    // Ctrl+Enter on a focused node would also toggle its selection (React Flow's keyboard
    // selection with the multi-select key held), losing the node a run to here is for: the run
    // keys are taken before the event reaches the node.
    const onRunKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.key !== 'Enter') return;
      e.stopPropagation();
      onKeyDown(e);
    };
    window.addEventListener('keydown', onRunKey, true);
    window.addEventListener('keydown', onKeyDown);
    return () => {
      window.removeEventListener('keydown', onRunKey, true);
      window.removeEventListener('keydown', onKeyDown);
    };
  }, [flow]);

  return (
    <div className="fg-app">
      <Toolbar onOpen={openDialog} />
      <input
        ref={fileInput}
        type="file"
        accept=".json,application/json"
        hidden
        data-testid="open-file"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) void openFile(file);
          e.target.value = '';
        }}
      />
      <div className="fg-main">
        <Palette ref={searchRef} />
        {loaded ? (
          <Canvas onOpenFile={(f) => void openFile(f)} onOpenImage={(f, at) => void openImage(f, at)} />
        ) : (
          <div className="fg-canvas fg-loading">{catalogError ? `Could not load the node catalog: ${catalogError}` : 'Loading the node catalog…'}</div>
        )}
        <div className="fg-side">
          <Inspector />
          {loaded ? <Overview /> : null}
        </div>
      </div>
      <Gallery />
      <Notices />
      <DocumentsDialog onPickLocal={pickLocalFile} />
      <Preview />
      <HelpPanel />
    </div>
  );
}

export function App() {
  return (
    <ReactFlowProvider>
      <Shell />
    </ReactFlowProvider>
  );
}
