/**
 * The batch part of the pre-flight: every row source is scanned (streaming: counted and checked,
 * never held), malformed rows are reported with their line numbers, `zip` inputs must be as
 * long as each other, and `{field:NAME}` must name a field the rows have. The row count of every
 * node comes out too: the estimate prices one row and multiplies by it.
 */
import { planBatch, topologicalOrder, type BatchPlan } from './batch-plan';
import type { AnyNodeDefinition } from './define-node';
import { nodeLabel } from './errors';
import type { Pipeline } from './pipeline-schema';
import type { NodeRegistry } from './registry';
import { INPUTS_SOURCE } from './rows';
import type { ValidationIssue } from './validate';

export interface BatchCheckOptions {
  registry: NodeRegistry;
  baseDir: string;
  variables?: Record<string, string>;
  /** The run's `--inputs` rows: their count and columns (already scanned by the host). */
  inputs?: { count: number; columns: string[] };
  /** The server's base folder: the files row sources list must lie inside it (see RowEnv). */
  confineTo?: string;
}

export interface BatchCheck {
  plan: BatchPlan;
  issues: ValidationIssue[];
  /** Rows of each row source. */
  sources: Map<string, { count: number; columns: string[]; preview: string[] }>;
  /** How many rows each node runs for (1 for nodes outside the batch). */
  rows: Map<string, number>;
}

/** Expects a pipeline that passed `validatePipeline`. */
export async function checkBatch(pipeline: Pipeline, o: BatchCheckOptions): Promise<BatchCheck> {
  const plan = planBatch(pipeline, { registry: o.registry, inputs: o.inputs !== undefined });
  const issues: ValidationIssue[] = [];
  const sources = new Map<string, { count: number; columns: string[]; preview: string[] }>();
  const defs = new Map<string, { def: AnyNodeDefinition; params: unknown; type: string }>();
  for (const n of pipeline.nodes) {
    const def = o.registry.get(n.type)!;
    const parsed = def.params.safeParse(n.params);
    if (parsed.success) defs.set(n.id, { def, params: parsed.data, type: n.type });
  }
  if (o.inputs) sources.set(INPUTS_SOURCE, { count: o.inputs.count, columns: o.inputs.columns, preview: [] });
  const variables = { ...pipeline.settings?.variables, ...o.variables };
  await Promise.all(
    [...defs].map(async ([id, { def, params, type }]) => {
      if (!def.rowSource) return;
      if (o.inputs) {
        issues.push({ code: 'invalid_input', severity: 'error', message: `${nodeLabel(id, type)}: --inputs runs the pipeline once per row, and this node is a list of its own; use one or the other`, nodeId: id });
        return;
      }
      const scan = await def.rowSource.scan(params as never, { variables, baseDir: o.baseDir, ...(o.confineTo ? { confineTo: o.confineTo } : {}) });
      sources.set(id, { count: scan.count, columns: scan.columns, preview: scan.preview });
      for (const i of scan.issues) {
        issues.push({ code: 'invalid_input', severity: 'error', message: `${nodeLabel(id, type)}: ${i.message}`, nodeId: id, ...(i.param ? { param: i.param } : {}), ...(i.line ? { rowLine: i.line } : {}) });
      }
      if (scan.count === 0 && !scan.issues.length) issues.push({ code: 'invalid_input', severity: 'error', message: `${nodeLabel(id, type)}: has no rows, so nothing would run`, nodeId: id });
    }),
  );
  if (o.inputs && o.inputs.count === 0) issues.push({ code: 'invalid_input', severity: 'error', message: '--inputs: the file has no rows, so nothing would run' });

  const rows = new Map<string, number>();
  const wiresInto = new Map<string, { port: string; source: string }[]>();
  for (const e of pipeline.edges) wiresInto.set(e.target, [...(wiresInto.get(e.target) ?? []), { port: e.targetHandle, source: e.source }]);
  // In topological order, so every source's count is known before its targets ask for it.
  const rowsOf = (id: string): number => {
    const known = rows.get(id);
    if (known !== undefined) return known;
    const p = plan.get(id);
    const d = defs.get(id);
    let count = 1;
    if (p && d) {
      if (p.feed) count = sources.get(p.feed)?.count ?? 0;
      else {
        const each = d.def.eachItemOf;
        const driverSources = (wiresInto.get(id) ?? []).filter((w) => w.port === each).map((w) => w.source);
        const parts: { name: string; count: number }[] = [];
        const carried = driverSources.filter((src) => plan.get(src)?.carries.size);
        if (carried.length) parts.push({ name: `"${each}"`, count: Math.max(...carried.map(rowsOf)) });
        for (const f of p.free) parts.push({ name: f === INPUTS_SOURCE ? '--inputs' : `"${f}"`, count: sources.get(f)?.count ?? 0 });
        if (parts.length > 1 && p.combine === 'zip' && new Set(parts.map((x) => x.count)).size > 1) {
          issues.push({
            code: 'invalid_param',
            severity: 'error',
            message: `${nodeLabel(id, d.type)}: combine "zip" pairs rows one to one, but ${parts.map((x) => `${x.name} has ${x.count} row${x.count === 1 ? '' : 's'}`).join(' and ')}; make them as long, or set "combine": "product" for every pair`,
            nodeId: id,
            param: 'combine',
          });
        }
        if (parts.length) count = p.combine === 'product' ? parts.reduce((a, x) => a * x.count, 1) : Math.max(...parts.map((x) => x.count));
      }
      checkFields(id, d, p.carries, sources, issues);
    }
    rows.set(id, count);
    return count;
  };
  for (const id of topologicalOrder([...defs.keys()], pipeline.edges)) rowsOf(id);
  return { plan, issues, sources, rows };
}

function checkFields(id: string, d: { def: AnyNodeDefinition; params: unknown; type: string }, carries: Set<string>, sources: BatchCheck['sources'], issues: ValidationIssue[]): void {
  const wanted = d.def.rowFields?.(d.params as never) ?? [];
  if (!wanted.length) return;
  const columns = new Set([...carries].flatMap((f) => sources.get(f)?.columns ?? []));
  for (const name of wanted) {
    if (columns.has(name)) continue;
    const where = carries.size ? `the rows have ${columns.size ? [...columns].map((c) => `"${c}"`).join(', ') : 'no fields'}` : 'this node is not fed by a batch (a prompt list, an image folder or --inputs)';
    issues.push({ code: 'invalid_param', severity: 'error', message: `${nodeLabel(id, d.type)}: {field:${name}} names no field of the row; ${where}`, nodeId: id });
  }
}
