import { isAbsolute, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { defineNode, type RowEnv, type RowSourceScan } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';
import { fillTemplate, templateColumns, type Row } from '../engine/core/rows';
import { formatOf, readRows, rowsOfItems, scanRows } from '../engine/batch/rows';

const params = z
  .strictObject({
    items: z.array(z.string().trim().min(1)).min(1).optional().describe('The prompts, one per item'),
    file: z
      .string()
      .min(1)
      .optional()
      .describe('A .txt (one prompt per line; blank lines and # comments skipped), .csv (with a header row) or .jsonl file, relative to the pipeline file'),
    template: z
      .string()
      .min(1)
      .optional()
      .describe('Fills {column} from each row, e.g. "{product}, on a white table, {style}"; text lines and items are {text}. Default: {text}, or the "prompt" column'),
  })
  .superRefine((p, ctx) => {
    if ((p.items === undefined) === (p.file === undefined)) ctx.addIssue({ code: 'custom', path: ['items'], message: 'set either "items" (a list of prompts) or "file", not both' });
  });

type Params = z.output<typeof params>;

const pathOf = (p: Params, baseDir: string) => (isAbsolute(p.file!) ? p.file! : resolve(baseDir, p.file!));

/** The template that makes each row's prompt, or a message saying why there is none. */
function templateOf(p: Params, columns: readonly string[]): { template?: string; problem?: string } {
  if (p.template) return { template: p.template };
  if (columns.includes('text')) return { template: '{text}' };
  if (columns.includes('prompt')) return { template: '{prompt}' };
  return { problem: `param "template" is needed to make a prompt from the columns ${columns.map((c) => `"${c}"`).join(', ')}, e.g. "{${columns[0] ?? 'column'}}, studio photo"` };
}

async function scan(p: Params, env: RowEnv): Promise<RowSourceScan> {
  const unfilled = (columns: readonly string[]) => templateColumns(p.template ?? '').filter((c) => !columns.includes(c) && !(c in env.variables));
  if (p.items) {
    const missing = unfilled(['text']);
    return {
      count: p.items.length,
      columns: ['text'],
      issues: missing.map((c) => ({ param: 'template', message: `param "template": {${c}} is neither "text" (each item) nor a variable` })),
      preview: p.items.slice(0, 3).map((text) => fillTemplate(p.template ?? '{text}', { text }, env.variables)),
    };
  }
  const path = pathOf(p, env.baseDir ?? process.cwd());
  const format = formatOf(path);
  // A CSV header names every column once; a JSONL object may lack a key on any line.
  const required = format === 'jsonl' ? templateColumns(p.template ?? '').filter((c) => !(c in env.variables)) : [];
  const s = await scanRows(path, { format, require: required });
  const issues: RowSourceScan['issues'] = s.issues.map((i) => ({ ...(i.line ? { line: i.line } : {}), param: 'file', message: `${p.file}${i.line ? `:${i.line}` : ''}: ${i.message}` }));
  const { template, problem } = templateOf(p, s.columns);
  if (problem && s.columns.length) issues.push({ param: 'template', message: problem });
  if (format === 'csv' && s.columns.length) {
    for (const c of unfilled(s.columns)) issues.unshift({ line: 1, param: 'template', message: `${p.file}:1: the header has no column "${c}" used by {${c}} (columns: ${s.columns.join(', ')})` });
  }
  if (format === 'text') for (const c of unfilled(['text'])) issues.push({ param: 'template', message: `param "template": {${c}} is neither "text" (each line) nor a variable` });
  return { count: s.count, columns: s.columns, issues, preview: template ? s.preview.map((r) => fillTemplate(template, r.fields, env.variables)) : [] };
}

const paths = (p: Params) => (p.file ? [{ param: 'file', path: p.file }] : []);

async function* rows(p: Params, env: RowEnv & { baseDir: string }): AsyncGenerator<Row> {
  if (p.items) return yield* rowsOfItems(p.items);
  yield* readRows(pathOf(p, env.baseDir));
}

/** A list of prompts, one item per entry: from `items`, a text file, or CSV/JSONL rows through a template. */
export const promptList = defineNode({
  type: 'prompt-list',
  title: 'Prompt list',
  description:
    'A batch of prompts: from "items", a text file (one per line), or a CSV/JSONL file whose rows fill a template. Each prompt is a row; nodes it feeds run once per row.',
  version: 1,
  category: 'input',
  inputs: {},
  outputs: {
    prompts: { kind: 'text', list: true, iterates: true, description: 'One prompt per row; into a single-valued input, the node runs once per row' },
  },
  params,
  check(p, env) {
    if (!p.file || !env.baseDir) return [];
    const path = pathOf(p, env.baseDir);
    return existsSync(path) ? [] : [{ code: 'invalid_input', param: 'file', message: `param "file": file not found: ${path}` }];
  },
  rowSource: { scan, rows, paths },
  async run({ params: p, ctx }) {
    const row = ctx.row;
    if (!row) throw new EngineError('internal', 'prompt-list runs once per row, but got no row');
    const { template, problem } = templateOf(p, Object.keys(row.fields));
    if (!template) throw new EngineError('invalid_param', problem!, { param: 'template' });
    const text = fillTemplate(template, row.fields, ctx.variables).trim();
    if (!text) throw new EngineError('invalid_input', `row ${row.n} makes an empty prompt`, { param: 'template' });
    return { prompts: text };
  },
});
