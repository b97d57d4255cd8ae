/**
 * Opening and saving pipeline files: JSON text in, canvas state out, and back. A file without
 * positions (hand-written, or from the CLI) is laid out automatically.
 */
import { parseJsonText } from '../../engine/core/parse-text';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { flowToPipeline, pipelineToFlow, stringifyPipeline, type Catalog, type FlowDocument } from '../flow/flow-mapping';
import { layoutGraph } from '../flow/layout';

export type ReadResult = { ok: true; flow: FlowDocument } | { ok: false; message: string };

/**
 * The browser's JSON.parse for a file that is plain strict JSON (several times faster on a big
 * pipeline, and its objects are the fast kind); the engine's parser otherwise, for the line and
 * column of what is wrong. A number too large for a float parses to Infinity in JSON.parse, which
 * the engine's parser reports: such a file takes the engine's path too.
 */
function parseDocument(text: string): { value?: unknown; issues: { message: string; line: number; column: number }[] } {
  try {
    const value: unknown = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    if (allFinite(value)) return { value, issues: [] };
  } catch {
    // not strict JSON: the engine's parser says where
  }
  return parseJsonText(text);
}

function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (value === null || typeof value !== 'object') return true;
  for (const v of Array.isArray(value) ? value : Object.values(value)) if (!allFinite(v)) return false;
  return true;
}

/** Reads a pipeline file's text. Deep checks are the server validator's job; this only needs the shape. */
export function readPipelineText(text: string): ReadResult {
  const parsed = parseDocument(text);
  if (parsed.issues.length > 0) {
    const i = parsed.issues[0];
    return { ok: false, message: `not valid JSON at line ${i.line}, column ${i.column}: ${i.message}` };
  }
  const value = parsed.value;
  const doc = value as Partial<Pipeline> | null;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, message: 'a pipeline file holds a JSON object' };
  if (!Array.isArray(doc.nodes)) return { ok: false, message: 'a pipeline file needs a "nodes" array' };
  if (doc.edges !== undefined && !Array.isArray(doc.edges)) return { ok: false, message: '"edges" must be an array' };
  for (const [i, n] of doc.nodes.entries()) {
    if (!n || typeof n !== 'object' || typeof n.id !== 'string' || typeof n.type !== 'string') {
      return { ok: false, message: `node ${i + 1} needs a string "id" and "type"` };
    }
  }
  for (const [i, e] of (doc.edges ?? []).entries()) {
    if (!e || typeof e !== 'object' || typeof e.source !== 'string' || typeof e.target !== 'string') {
      return { ok: false, message: `edge ${i + 1} needs a string "source" and "target"` };
    }
  }
  const flow = pipelineToFlow({ ...(doc as Pipeline), edges: doc.edges ?? [] });
  if (flow.needsLayout) {
    const positions = layoutGraph(flow.nodes.map((n) => ({ id: n.id })), flow.edges);
    flow.nodes = flow.nodes.map((n) => ({ ...n, position: positions.get(n.id) ?? n.position }));
  }
  const { needsLayout: _, ...rest } = flow;
  return { ok: true, flow: rest };
}

export function pipelineText(flow: FlowDocument, catalog: Catalog): string {
  return stringifyPipeline(flowToPipeline(flow, catalog));
}

export function fileNameFor(name: string | undefined): string {
  const base = (name ?? '').trim().replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
  return `${base || 'pipeline'}.json`;
}

/** Offers the text as a file download (what "Save" does in a browser). */
export function downloadText(text: string, fileName: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
