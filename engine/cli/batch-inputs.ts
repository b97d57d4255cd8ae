/**
 * `--inputs rows.csv|.jsonl` and `--rows 10-20`: the rows a run binds to the pipeline's
 * variables, scanned once in the pre-flight (counted, checked, never held) and read again,
 * lazily, by the run. A resume takes them from the stored run.
 */
import { resolve } from 'node:path';
import { readRows, scanRows } from '../batch/rows';
import { parseRowRange } from '../core/rows';
import type { ValidationIssue } from '../core/validate';
import type { RunOptions } from '../core/run-options';
import { fail } from './exit';
import type { PipelineArgs } from './pipeline-args';
import type { LoadedPipeline } from './preflight';

export interface BatchInputs extends NonNullable<RunOptions['inputs']> {
  /** Absolute path of the rows file. */
  path: string;
  range?: { from: number; to?: number };
  count: number;
  columns: string[];
  issues: ValidationIssue[];
}

/** The `--inputs` rows (from the flags, or as the resumed run stored them); a number is an exit code. */
export async function loadInputs(args: PipelineArgs, loaded: LoadedPipeline): Promise<BatchInputs | undefined | number> {
  const { values, resumeId } = args;
  if (resumeId && (values.inputs !== undefined || values.rows !== undefined)) {
    return fail(`--resume ${resumeId}: --${values.inputs !== undefined ? 'inputs' : 'rows'} cannot change a run being resumed; it continues the rows it started with`);
  }
  const file = values.inputs !== undefined ? resolve(values.inputs) : loaded.stored.inputs;
  if (values.rows !== undefined && values.inputs === undefined) return fail(`--rows ${values.rows} takes a slice of the rows of --inputs; pass --inputs rows.csv too`);
  if (!file) return undefined;
  let range = loaded.stored.rows;
  if (values.rows !== undefined) {
    range = parseRowRange(values.rows);
    if (!range) return fail(`--rows ${values.rows}: expected data rows as from-to, 1-based and inclusive, e.g. --rows 10-20, --rows 5 or --rows 10-`);
  }
  const shown = values.inputs ?? file;
  const scan = await scanRows(file, range ?? {});
  const issues: ValidationIssue[] = scan.issues.map((i) => ({ code: 'invalid_input', severity: 'error', message: `--inputs ${shown}${i.line ? `:${i.line}` : ''}: ${i.message}`, ...(i.line ? { rowLine: i.line } : {}) }));
  if (!issues.length && scan.count === 0) issues.push({ code: 'invalid_input', severity: 'error', message: `--inputs ${shown}: no rows${range ? ` in --rows ${values.rows ?? `${range.from}-${range.to ?? ''}`}` : ''}, so nothing would run` });
  return { path: file, ...(range ? { range } : {}), count: scan.count, columns: scan.columns, issues, rows: () => readRows(file, range ?? {}) };
}
