/**
 * Open and Save through the server: the pipeline files in the server's base folder, the example
 * templates, and (Open) a file from this computer; Save writes into the base folder.
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { FilesResponse, TemplateEntry } from '../api/types';
import { useUi } from '../state/ui-store';
import { openServerFile, openTemplate, saveToServer, suggestedPath } from './document-actions';

function useFiles(): { files?: FilesResponse; error?: string } {
  const [state, setState] = useState<{ files?: FilesResponse; error?: string }>({});
  useEffect(() => {
    let live = true;
    api
      .files()
      .then((files) => live && setState({ files }))
      .catch((e: Error) => live && setState({ error: e.message }));
    return () => {
      live = false;
    };
  }, []);
  return state;
}

export function useTemplates(): TemplateEntry[] | undefined {
  const [templates, setTemplates] = useState<TemplateEntry[]>();
  useEffect(() => {
    let live = true;
    api
      .templates()
      .then((t) => live && setTemplates(t.templates))
      .catch(() => live && setTemplates([]));
    return () => {
      live = false;
    };
  }, []);
  return templates;
}

function close(): void {
  useUi.getState().setDocumentsDialog(undefined);
}

function OpenDialog({ onPickLocal }: { onPickLocal(): void }) {
  const { files, error } = useFiles();
  const templates = useTemplates();
  return (
    <div className="fg-documents" role="dialog" aria-modal="true" aria-label="Open a pipeline" onClick={(e) => e.stopPropagation()}>
      <h2>Open a pipeline</h2>
      <section>
        <h3>
          In <code>{files?.baseDir ?? 'the base folder'}</code>
        </h3>
        {error ? <p className="fg-field-error">Could not list the files: {error}</p> : null}
        {files && files.files.length === 0 ? <p className="fg-muted">No pipeline files here yet: Save puts them here.</p> : null}
        {!files && !error ? <p className="fg-muted">Loading…</p> : null}
        <ul className="fg-file-list" aria-label="Pipeline files">
          {files?.files.map((f) => (
            <li key={f.path}>
              <button type="button" onClick={() => void openServerFile(f.path).then((ok) => ok && close())} data-path={f.path}>
                <b>{f.path}</b>
                <span className="fg-muted">
                  {f.nodes} nodes · {new Date(f.modifiedAt).toLocaleString()}
                </span>
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h3>Templates</h3>
        <TemplateList templates={templates} onOpened={close} />
      </section>
      <footer className="fg-documents-actions">
        <button
          type="button"
          onClick={() => {
            close();
            onPickLocal();
          }}
        >
          From this computer…
        </button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </footer>
    </div>
  );
}

export function TemplateList({ templates, onOpened }: { templates: TemplateEntry[] | undefined; onOpened?(): void }) {
  if (!templates) return <p className="fg-muted">Loading…</p>;
  if (templates.length === 0) return <p className="fg-muted">No templates.</p>;
  return (
    <ul className="fg-template-list" aria-label="Templates">
      {templates.map((t) => (
        <li key={t.name}>
          <button type="button" data-template={t.name} onClick={() => void openTemplate(t.name).then((ok) => ok && onOpened?.())} title={t.types.join(' → ')}>
            <b>{t.title}</b>
            <span className="fg-muted">
              {t.nodes} nodes{t.description ? ` · ${t.description}` : ''}
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function SaveDialog() {
  const [path, setPath] = useState(suggestedPath);
  const [problem, setProblem] = useState<{ message: string; exists?: boolean }>();
  const [busy, setBusy] = useState(false);
  const save = async (overwrite: boolean) => {
    setBusy(true);
    const outcome = await saveToServer(path.trim(), overwrite);
    setBusy(false);
    if (outcome.ok) close();
    else setProblem(outcome);
  };
  return (
    <form
      className="fg-documents"
      role="dialog"
      aria-modal="true"
      aria-label="Save the pipeline"
      onClick={(e) => e.stopPropagation()}
      onSubmit={(e) => {
        e.preventDefault();
        void save(false);
      }}
    >
      <h2>Save the pipeline</h2>
      <div className={`fg-field${problem ? ' fg-field-invalid' : ''}`}>
        <label htmlFor="fg-save-path">File, in the server's base folder</label>
        <input
          id="fg-save-path"
          className="fg-input"
          value={path}
          spellCheck={false}
          autoFocus
          onChange={(e) => {
            setPath(e.target.value);
            setProblem(undefined);
          }}
        />
        <p className="fg-hint">Relative reference paths in it resolve against this file's folder, as with fluxgraph run.</p>
        {problem ? (
          <p className="fg-field-error" role="alert">
            {problem.message}
          </p>
        ) : null}
      </div>
      <footer className="fg-documents-actions">
        {problem?.exists ? (
          <button type="button" className="fg-danger" disabled={busy} onClick={() => void save(true)}>
            Replace it
          </button>
        ) : (
          <button type="submit" disabled={busy || path.trim() === ''}>
            Save
          </button>
        )}
        <button type="button" onClick={close}>
          Cancel
        </button>
      </footer>
    </form>
  );
}

export function DocumentsDialog({ onPickLocal }: { onPickLocal(): void }) {
  const which = useUi((s) => s.documentsDialog);
  if (!which) return null;
  return (
    <div className="fg-modal-backdrop" onClick={close}>
      {which === 'open' ? <OpenDialog onPickLocal={onPickLocal} /> : <SaveDialog />}
    </div>
  );
}
