/**
 * The right-hand panel: the selected node's params (a form generated from its descriptor) or,
 * with nothing selected, the pipeline's settings and the problems that name no node.
 */
import { useEffect, useRef, useState } from 'react';
import type { PipelineSettings } from '../../engine/core/pipeline-schema';
import type { Issue } from '../api/types';
import { shortMessage } from '../flow/messages';
import { isUrl, resolvePath } from '../flow/paths';
import { REFERENCE_TYPE, setReferenceImage } from '../documents/reference-images';
import { useCatalog } from '../state/catalog-store';
import { useEditor } from '../state/editor-store';
import { useIssues, useNodeIssues } from '../state/issues-store';
import { startRun } from '../state/run-controller';
import { useRunStore } from '../state/run-store';
import { isRunActive } from '../state/run-state';
import { useUi } from '../state/ui-store';
import { categoryColors, portColor } from '../theme';
import { ParamField } from './ParamField';


function NodeIdField({ nodeId }: { nodeId: string }) {
  const [text, setText] = useState(nodeId);
  const [error, setError] = useState<string>();
  useEffect(() => {
    setText(nodeId);
    setError(undefined);
  }, [nodeId]);
  const commit = () => {
    const problem = useEditor.getState().renameNode(nodeId, text.trim());
    setError(problem);
  };
  return (
    <div className={`fg-field${error ? ' fg-field-invalid' : ''}`}>
      <label htmlFor="fg-node-id">Node id</label>
      <input
        id="fg-node-id"
        className="fg-input"
        value={text}
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === 'Enter' && commit()}
      />
      <p className="fg-hint">Used in events, file names and --set {nodeId}.param=value</p>
      {error ? (
        <p className="fg-field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function RunToHereButton({ nodeId }: { nodeId: string }) {
  const active = useRunStore((s) => isRunActive(s.status));
  return (
    <button type="button" disabled={active} onClick={() => void startRun({ only: [nodeId] })} title="Run this node and what it depends on (Ctrl+Shift+Enter)">
      Run to here
    </button>
  );
}

/** Pick an image file: written into assets/ beside the document, and this node points at it. */
function ChooseImage({ nodeId }: { nodeId: string }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <div className="fg-field">
      <button type="button" onClick={() => input.current?.click()} title="The image is saved in an assets folder beside the pipeline file">
        Choose image…
      </button>
      <input
        ref={input}
        type="file"
        accept="image/png,image/jpeg,image/webp"
        hidden
        data-testid="choose-reference"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) void setReferenceImage(nodeId, file);
          e.target.value = '';
        }}
      />
      <p className="fg-hint">Or drop an image on this node, or paste one with the node selected.</p>
    </div>
  );
}

/** Where a reference image's path points on the server: relative paths follow the document's folder. */
function ResolvedPath({ source }: { source: unknown }) {
  const folder = useIssues((s) => s.folder);
  const docSource = useEditor((s) => s.source);
  if (typeof source !== 'string' || source === '' || isUrl(source) || !folder) return null;
  const from = docSource?.kind === 'file' ? `the folder of ${docSource.path}` : docSource?.kind === 'template' ? 'the templates folder' : "the server's base folder (this document has no folder of its own)";
  return (
    <p className="fg-hint fg-resolved-path" data-testid="resolved-path">
      Reads <code>{resolvePath(folder, source)}</code> — relative paths resolve against {from}.
    </p>
  );
}

function NodeInspector({ nodeId }: { nodeId: string }) {
  const node = useEditor((s) => s.nodes.find((n) => n.id === nodeId));
  const descriptor = useCatalog((s) => (node ? s.byType.get(node.data.type) : undefined));
  const issues = useNodeIssues(nodeId);
  if (!node) return null;
  const params = node.data.params;
  const setParam = (name: string, value: unknown) => useEditor.getState().setParam(nodeId, name, value);
  const known = new Set(descriptor?.params.map((p) => p.name));
  const otherIssues = issues.filter((i) => !i.param || !known.has(i.param));
  return (
    <div className="fg-inspector-body" aria-label={`Inspector: ${nodeId}`}>
      <header className="fg-inspector-head" style={{ borderLeftColor: descriptor ? categoryColors[descriptor.category] : '#ef4444' }}>
        <h2>{descriptor?.title ?? node.data.type}</h2>
        <code>{node.data.type}</code>
        {descriptor ? <p className="fg-muted">{descriptor.description}</p> : <p className="fg-field-error">unknown node type</p>}
      </header>
      <NodeIdField nodeId={nodeId} />
      {otherIssues.length > 0 ? (
        <ul className="fg-issue-list">
          {otherIssues.map((i, n) => (
            <li key={n} className={`fg-issue-${i.severity}`}>
              {shortMessage(i.message)}
            </li>
          ))}
        </ul>
      ) : null}
      <form className="fg-form" onSubmit={(e) => e.preventDefault()} aria-label="Params">
        {descriptor?.params.map((p) => (
          <ParamField key={`${nodeId}/${p.name}`} param={p} params={params} issues={issues.filter((i) => i.param === p.name)} onChange={(v) => setParam(p.name, v)} />
        ))}
        {descriptor && descriptor.params.length === 0 ? <p className="fg-muted">This node has no params.</p> : null}
      </form>
      {node.data.type === REFERENCE_TYPE ? (
        <>
          <ChooseImage nodeId={nodeId} />
          <ResolvedPath source={params.source} />
        </>
      ) : null}
      {descriptor ? (
        <section className="fg-ports-info">
          <h3>Ports</h3>
          <ul>
            {descriptor.inputs.map((p) => (
              <li key={`in-${p.name}`}>
                <i className="fg-dot" style={{ background: portColor(p.kind) }} /> in <b>{p.name}</b> {p.kind}
                {p.multiple ? ' (several)' : ''}
                {p.required ? ' required' : ''}
                {p.description ? <span className="fg-muted"> — {p.description}</span> : null}
              </li>
            ))}
            {descriptor.outputs.map((p) => (
              <li key={`out-${p.name}`}>
                <i className="fg-dot" style={{ background: portColor(p.kind) }} /> out <b>{p.name}</b> {p.kind}
                {p.list ? ' (list)' : ''}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <div className="fg-inspector-actions">
        <RunToHereButton nodeId={nodeId} />
        <button
          type="button"
          onClick={() => {
            const fragment = useEditor.getState().copySelection();
            if (fragment) useEditor.getState().paste(fragment);
          }}
        >
          Duplicate
        </button>
        <button type="button" className="fg-danger" onClick={() => useEditor.getState().deleteSelection()}>
          Delete node
        </button>
      </div>
    </div>
  );
}

function NumberSetting({ label, value, placeholder, min, onChange }: { label: string; value: number | undefined; placeholder?: string; min?: number; onChange(v: number | undefined): void }) {
  const [text, setText] = useState(value === undefined ? '' : String(value));
  const [error, setError] = useState<string>();
  useEffect(() => setText(value === undefined ? '' : String(value)), [value]);
  const id = `fg-setting-${label.replace(/\W+/g, '-')}`;
  return (
    <div className={`fg-field fg-field-inline${error ? ' fg-field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        className="fg-input"
        type="number"
        min={min}
        value={text}
        placeholder={placeholder}
        aria-invalid={error ? true : undefined}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value === '') {
            setError(undefined);
            onChange(undefined);
            return;
          }
          const n = Number(e.target.value);
          if (!Number.isFinite(n) || (min !== undefined && n < min)) setError(`must be a number${min !== undefined ? ` ≥ ${min}` : ''}`);
          else {
            setError(undefined);
            onChange(n);
          }
        }}
      />
      {error ? (
        <p className="fg-field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function VariablesEditor({ variables, onChange }: { variables: Record<string, string>; onChange(v: Record<string, string>): void }) {
  const entries = Object.entries(variables);
  const [newName, setNewName] = useState('');
  return (
    <div className="fg-variables">
      {entries.map(([name, value]) => (
        <div key={name} className="fg-variable">
          <label htmlFor={`fg-var-${name}`}>{`{${name}}`}</label>
          <input id={`fg-var-${name}`} className="fg-input" value={value} onChange={(e) => onChange({ ...variables, [name]: e.target.value })} />
          <button
            type="button"
            className="fg-reset"
            aria-label={`remove variable ${name}`}
            onClick={() => {
              const { [name]: _, ...rest } = variables;
              onChange(rest);
            }}
          >
            ×
          </button>
        </div>
      ))}
      <form
        className="fg-variable"
        onSubmit={(e) => {
          e.preventDefault();
          const name = newName.trim();
          if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !(name in variables)) {
            onChange({ ...variables, [name]: '' });
            setNewName('');
          }
        }}
      >
        <input className="fg-input" placeholder="new variable name" aria-label="New variable name" value={newName} onChange={(e) => setNewName(e.target.value)} />
        <button type="submit">Add</button>
      </form>
    </div>
  );
}

function ReuseSeeds() {
  const reuse = useUi((s) => s.reuseSeeds);
  return (
    <div className="fg-field">
      <label className="fg-check">
        <input type="checkbox" checked={reuse} onChange={(e) => useUi.getState().setReuseSeeds(e.target.checked)} /> Keep random seeds between runs
      </label>
      <p className="fg-hint">
        Unchanged nodes then make the same images, from the cache and free: the drafts you pick are the drafts that get refined. Untick (or set a node's
        seed) for new variations. Not saved in the file.
      </p>
    </div>
  );
}

function PipelineSettingsPanel() {
  const name = useEditor((s) => s.name);
  const settings = useEditor((s) => s.settings) ?? {};
  const providers = useCatalog((s) => s.providers);
  const general = useIssues((s) => s.general);
  const all = useIssues((s) => s.all);
  const nodeCount = useEditor((s) => s.nodes.length);
  const edgeCount = useEditor((s) => s.edges.length);
  const update = (patch: Partial<PipelineSettings>) => {
    const next: PipelineSettings = { ...settings, ...patch };
    for (const k of Object.keys(next) as (keyof PipelineSettings)[]) if (next[k] === undefined) delete next[k];
    useEditor.getState().setSettings(next);
  };
  const errors = all.filter((i) => i.severity === 'error').length;
  const warnings = all.length - errors;
  const defaultId = providers?.defaultId ?? 'bfl';
  return (
    <div className="fg-inspector-body" aria-label="Pipeline settings">
      <header className="fg-inspector-head">
        <h2>Pipeline</h2>
        <p className="fg-muted">
          {nodeCount} nodes · {edgeCount} edges · {errors ? `${errors} error${errors === 1 ? '' : 's'}` : 'no errors'}
          {warnings ? ` · ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}
        </p>
      </header>
      <div className="fg-field">
        <label htmlFor="fg-pipeline-name">Name</label>
        <input id="fg-pipeline-name" className="fg-input" value={name ?? ''} placeholder="untitled" onChange={(e) => useEditor.getState().setName(e.target.value)} />
      </div>
      <div className="fg-field">
        <label htmlFor="fg-provider">Provider</label>
        <select id="fg-provider" className="fg-input" value={settings.provider ?? ''} onChange={(e) => update({ provider: e.target.value || undefined })}>
          <option value="">default ({defaultId})</option>
          {(providers?.providers ?? []).map((p) => (
            <option key={p.id} value={p.id}>
              {p.title} — {p.emulated ? 'emulator' : p.hasKey ? 'key set' : 'no key'}
            </option>
          ))}
        </select>
        {providers?.embeddedEmulator ? (
          <p className="fg-hint">No provider key is set on the server: runs use the embedded emulator (free, offline stand-in images).</p>
        ) : (
          <p className="fg-hint">Keys live in the server's environment and never reach the browser.</p>
        )}
      </div>
      <fieldset className="fg-fieldset">
        <legend>Concurrency (active tasks per provider)</legend>
        {(providers?.providers ?? []).map((p) => (
          <NumberSetting
            key={p.id}
            label={p.id}
            min={1}
            value={settings.concurrency?.[p.id]}
            placeholder={String(p.defaultConcurrency)}
            onChange={(v) => {
              const c = { ...settings.concurrency };
              if (v === undefined) delete c[p.id];
              else c[p.id] = v;
              update({ concurrency: Object.keys(c).length ? c : undefined });
            }}
          />
        ))}
      </fieldset>
      <ReuseSeeds />
      <NumberSetting label="Task timeout (s)" min={1} value={settings.taskTimeoutSec} placeholder="600" onChange={(v) => update({ taskTimeoutSec: v })} />
      <fieldset className="fg-fieldset">
        <legend>Variables</legend>
        <VariablesEditor variables={settings.variables ?? {}} onChange={(v) => update({ variables: Object.keys(v).length ? v : undefined })} />
      </fieldset>
      {general.length > 0 ? <IssueList title="Problems" issues={general} /> : null}
    </div>
  );
}

function IssueList({ title, issues }: { title: string; issues: readonly Issue[] }) {
  return (
    <section className="fg-problems">
      <h3>{title}</h3>
      <ul className="fg-issue-list">
        {issues.map((i, n) => (
          <li key={n} className={`fg-issue-${i.severity}`}>
            {i.message}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Inspector() {
  const selectedId = useEditor((s) => s.selectedId);
  return <aside className="fg-inspector">{selectedId ? <NodeInspector key={selectedId} nodeId={selectedId} /> : <PipelineSettingsPanel />}</aside>;
}
