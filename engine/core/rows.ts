/**
 * Rows of a batch as the engine sees them. A row source (a list node, or the run's `--inputs`
 * file) produces rows; every item made from a row carries a tag naming it, through fan-out,
 * pick and refine, so file names, sidecars and results.csv can say which row made an image.
 */

/** One entry of a row source: numbered from 1 as in a spreadsheet. */
export interface Row {
  n: number;
  /** Line of the file the row starts on (for error messages). */
  line: number;
  fields: Record<string, string>;
}

/** The row an item belongs to, carried with the item. */
export interface RowTag {
  /** The row number shown to users ({row}, row-7/, results.csv). */
  n: number;
  fields: Record<string, string>;
  /** The row of each row source this row is made of (one entry unless sources were combined). */
  of: Record<string, number>;
  /** The item's index within its row (e.g. which draft of this row). */
  local: number;
}

/** The row source id of the run's `--inputs` file. */
export const INPUTS_SOURCE = '$inputs';

const COLUMN = /\{([^{}:]+)\}/g;

/** `{column}` names a template uses. */
export function templateColumns(template: string): string[] {
  return [...new Set([...template.matchAll(COLUMN)].map((m) => m[1].trim()))];
}

/** Fills `{column}` from the row's fields, then from the run's variables. */
export function fillTemplate(template: string, fields: Record<string, string>, variables: Record<string, string> = {}): string {
  return template.replace(COLUMN, (whole, name: string) => fields[name.trim()] ?? variables[name.trim()] ?? whole);
}

/** `--rows 10-20`, `--rows 5` or `--rows 10-` as a 1-based inclusive range; undefined when malformed. */
export function parseRowRange(text: string): { from: number; to?: number } | undefined {
  const m = /^\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[3] !== undefined ? Number(m[3]) : m[2] ? undefined : from;
  if (from < 1 || (to !== undefined && to < from)) return undefined;
  return to === undefined ? { from } : { from, to };
}
