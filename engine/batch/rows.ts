/**
 * Rows of a batch, read one at a time from a text file (one entry per line), a CSV file (header
 * row, quoted fields, newlines inside quotes) or a JSONL file (one object per line). Nothing here
 * holds a whole file: `readRows` streams, and `scanRows` counts and checks in one streaming pass,
 * so a 10,000-row file is priced and checked without being kept in memory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { CsvError, parse as parseCsv } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import type { Row } from '../core/rows';

export type RowFormat = 'text' | 'csv' | 'jsonl';

/** A malformed row, with the line (1-based, in the file) where it starts. */
export interface RowIssue {
  line: number;
  message: string;
}

export interface RowScan {
  /** Data rows (after blank lines and comments are skipped, within the slice). */
  count: number;
  /** Column names: the CSV header, the keys of the JSONL objects seen, or ["text"]. */
  columns: string[];
  issues: RowIssue[];
  /** The first few rows, for the editor and messages. */
  preview: Row[];
}

export interface ReadOptions {
  format?: RowFormat;
  /** Data rows to keep, 1-based and inclusive (`--rows 10-20`). */
  from?: number;
  to?: number;
  /** Columns every row must have (e.g. the template's `{column}` fields). */
  require?: readonly string[];
}

/** Most issues one scan reports; a broken file would otherwise print thousands of lines. */
export const MAX_ROW_ISSUES = 20;
const PREVIEW_ROWS = 3;

export function formatOf(path: string): RowFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return 'text';
}

/** A problem in the file itself: a row is broken, or it cannot be read. */
export class RowError extends Error {
  constructor(readonly line: number, message: string) {
    super(line > 0 ? `line ${line}: ${message}` : message);
  }
}

type Parsed = { row?: Row; issue?: RowIssue; columns?: string[] };

async function* lines(path: string): AsyncGenerator<{ line: number; text: string }> {
  await stat(path);
  const input = createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line++;
      yield { line, text: line === 1 ? raw.replace(/^\uFEFF/, '') : raw };
    }
  } finally {
    rl.close();
    input.destroy();
  }
}

async function* textRows(path: string): AsyncGenerator<Parsed> {
  let n = 0;
  for await (const { line, text } of lines(path)) {
    const entry = text.trim();
    if (!entry || entry.startsWith('#')) continue;
    yield { row: { n: ++n, line, fields: { text: entry } } };
  }
}

function jsonValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

async function* jsonlRows(path: string): AsyncGenerator<Parsed> {
  let n = 0;
  for await (const { line, text } of lines(path)) {
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      yield { issue: { line, message: `malformed JSON: ${(e as Error).message}` } };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { issue: { line, message: `expected a JSON object like {"product": "..."}, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}` } };
      continue;
    }
    const fields = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v)]));
    yield { row: { n: ++n, line, fields } };
  }
}

/** The line a CSV record starts on: csv-parse reports the line it ends on. */
function startLine(endLine: number, raw: string): number {
  const body = raw.replace(/^(\r?\n)+/, '').replace(/\r?\n$/, '');
  return endLine - (body.match(/\n/g)?.length ?? 0);
}

/** One CSV record against the header: a row, or the issue of a record with the wrong field count. */
function csvRecord(record: string[], line: number, header: string[], n: number): Parsed | undefined {
  // Spreadsheets export trailing ",,," lines: a row with every field empty is a blank line.
  if (record.every((f) => f === '')) return undefined;
  if (record.length !== header.length) {
    const missing = header.slice(record.length);
    return {
      issue: {
        line,
        message:
          record.length < header.length
            ? `has ${record.length} field${record.length === 1 ? '' : 's'}, the header has ${header.length} (missing: ${missing.join(', ')})`
            : `has ${record.length} fields, the header has ${header.length} (${header.join(', ')}); quote a field that contains a comma`,
      },
    };
  }
  return { row: { n, line, fields: Object.fromEntries(header.map((h, i) => [h, record[i]])) } };
}

const csvMessage = (e: Error) => `malformed CSV: ${e.message.replace(/ at line \d+/, '').replace(/^Invalid/, 'invalid')}`;

async function* csvRows(path: string): AsyncGenerator<Parsed> {
  const input = createReadStream(path);
  const parser = input.pipe(parseCsv({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true, raw: true }));
  // pipe() does not forward a read error (a missing file): the parser would wait forever.
  input.on('error', (e) => parser.destroy(e));
  let header: string[] | undefined;
  let n = 0;
  let lastLine = 0;
  try {
    for await (const { record, raw, info } of parser as AsyncIterable<{ record: string[]; raw: string; info: { lines: number } }>) {
      const line = startLine(info.lines, raw);
      lastLine = info.lines;
      if (!header) {
        header = record.map((h) => h.trim());
        yield* headerParsed(header, line);
        continue;
      }
      const p = csvRecord(record, line, header, n + 1);
      if (!p) continue;
      n++;
      yield p;
    }
  } catch (e) {
    const err = e as Error & { code?: string; lines?: number };
    if (!(e instanceof CsvError)) throw e;
    // The fast streaming parse stops at a malformed record (and drops the records it had not
    // handed out yet): from the last record it did hand out, the file is read record by record,
    // so every malformed record is reported with its line, not only the first.
    yield* csvRowsAfter(path, lastLine, header, n + 1);
  }
}

function* headerParsed(header: string[], line: number): Generator<Parsed> {
  const blank = header.findIndex((h) => !h);
  const dup = header.find((h, i) => h && header.indexOf(h) !== i);
  if (blank >= 0) yield { issue: { line, message: `header column ${blank + 1} has no name` } };
  if (dup) yield { issue: { line, message: `header names column "${dup}" twice` } };
  yield { columns: header };
}

/** A quoted field may span lines, but not this many: past it, the opening quote is the mistake. */
const MAX_RECORD_LINES = 1000;

const quotesIn = (text: string) => text.match(/"/g)?.length ?? 0;

/**
 * After a malformed record: the lines from `after` + 1 are read record by record. The shortest
 * run of lines whose quotes balance is parsed as one record; when it does not parse, its first
 * line is reported (or taken, if it is a record on its own) and the search goes on from the next
 * line, so a stray quote costs one line, not the rest of the file.
 */
async function* csvRowsAfter(path: string, after: number, knownHeader: string[] | undefined, firstN: number): AsyncGenerator<Parsed> {
  let header = knownHeader;
  let n = firstN - 1;
  const queue: { line: number; text: string }[] = [];
  const records = function* (text: string, line: number): Generator<Parsed> {
    for (const record of parseCsvSync(text, { relax_column_count: true, skip_empty_lines: true }) as string[][]) {
      if (!header) {
        header = record.map((h) => h.trim());
        yield* headerParsed(header, line);
        continue;
      }
      const p = csvRecord(record, line, header, n + 1);
      if (!p) continue;
      n++;
      yield p;
    }
  };
  const drain = function* (atEnd: boolean): Generator<Parsed> {
    while (queue.length) {
      let quotes = 0;
      let end = -1;
      for (let i = 0; i < queue.length; i++) {
        quotes += quotesIn(queue[i].text);
        if (quotes % 2 === 0) {
          end = i;
          break;
        }
      }
      if (end < 0 && !atEnd && queue.length < MAX_RECORD_LINES) return;
      const group = end < 0 ? queue : queue.slice(0, end + 1);
      try {
        if (end < 0) throw new Error('Quote Not Closed: a quoted field is never closed');
        // Parsed before anything is yielded: a record that fails half way yields nothing.
        const got = [...records(group.map((l) => l.text).join('\n'), group[0].line)];
        queue.splice(0, group.length);
        yield* got;
      } catch (e) {
        const [first] = queue.splice(0, 1);
        let alone: Parsed[] | undefined;
        if (group.length > 1 && quotesIn(first.text) % 2 === 0) {
          try {
            alone = [...records(first.text, first.line)];
          } catch {
            alone = undefined;
          }
        }
        if (alone) yield* alone;
        else {
          if (header) n++;
          yield { issue: { line: first.line, message: csvMessage(e as Error) } };
        }
      }
    }
  };
  for await (const l of lines(path)) {
    if (l.line <= after) continue;
    if (!l.text.trim() && !queue.length) continue;
    queue.push(l);
    yield* drain(false);
  }
  yield* drain(true);
}

function parsed(path: string, format: RowFormat): AsyncGenerator<Parsed> {
  return format === 'csv' ? csvRows(path) : format === 'jsonl' ? jsonlRows(path) : textRows(path);
}

function missingColumns(row: Row, require: readonly string[] | undefined): string[] {
  return (require ?? []).filter((c) => !(c in row.fields));
}

function missingMessage(missing: string[]): string {
  return `has no ${missing.map((c) => `"${c}"`).join(', ')} (the template uses ${missing.map((c) => `{${c}}`).join(', ')})`;
}

/** Streams the rows (in file order); throws a RowError at the first malformed one. */
export async function* readRows(path: string, o: ReadOptions = {}): AsyncGenerator<Row> {
  const format = o.format ?? formatOf(path);
  try {
    for await (const p of parsed(path, format)) {
      if (p.issue) throw new RowError(p.issue.line, p.issue.message);
      if (!p.row) continue;
      if (o.from !== undefined && p.row.n < o.from) continue;
      if (o.to !== undefined && p.row.n > o.to) return;
      const missing = missingColumns(p.row, o.require);
      if (missing.length) throw new RowError(p.row.line, missingMessage(missing));
      yield p.row;
    }
  } catch (e) {
    throw e instanceof RowError ? e : new RowError(0, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** Counts and checks every row in one streaming pass (memory does not grow with the file). */
export async function scanRows(path: string, o: ReadOptions = {}): Promise<RowScan> {
  const format = o.format ?? formatOf(path);
  const scan: RowScan = { count: 0, columns: format === 'text' ? ['text'] : [], issues: [], preview: [] };
  const seen = new Set<string>(scan.columns);
  // The first MAX_ROW_ISSUES are listed; the rest are counted, in one last line.
  let more = 0;
  const issue = (i: RowIssue) => (scan.issues.length < MAX_ROW_ISSUES ? scan.issues.push(i) : more++);
  try {
    for await (const p of parsed(path, format)) {
      if (p.columns) {
        scan.columns = p.columns;
        continue;
      }
      if (p.issue) {
        issue(p.issue);
        continue;
      }
      const row = p.row!;
      if (o.from !== undefined && row.n < o.from) continue;
      if (o.to !== undefined && row.n > o.to) continue;
      if (format === 'jsonl') for (const k of Object.keys(row.fields)) if (!seen.has(k)) (seen.add(k), scan.columns.push(k));
      const missing = missingColumns(row, o.require);
      if (missing.length) issue({ line: row.line, message: missingMessage(missing) });
      scan.count++;
      if (scan.preview.length < PREVIEW_ROWS) scan.preview.push(row);
    }
  } catch (e) {
    issue({ line: 0, message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}` });
  }
  if (more) scan.issues.push({ line: 0, message: `and ${more} more malformed row${more === 1 ? '' : 's'} after line ${scan.issues.at(-1)!.line} (the first ${MAX_ROW_ISSUES} are listed)` });
  return scan;
}

/** Rows from a list in the document itself (a node's `items` param). */
export function rowsOfItems(items: readonly string[]): Row[] {
  return items.map((text, i) => ({ n: i + 1, line: i + 1, fields: { text } }));
}
