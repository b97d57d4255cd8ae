/**
 * The shape every benchmark hands to `npm run bench`: rows of figure, value, target and verdict,
 * printed as one table. A benchmark file exports a function that returns `BenchRow[]` (or its own
 * result, adapted in bench/run.ts).
 */

export type Verdict = 'met' | 'missed' | 'info' | 'failed' | 'skipped';

export interface BenchRow {
  /** What is measured, with the run's conditions (calls, latency, cap) where they matter. */
  figure: string;
  value: string;
  /** "≤ 1.0 ms"; empty for a figure printed for context. */
  target: string;
  verdict: Verdict;
  note?: string;
}

export function judged(figure: string, value: string, target: string, ok: boolean, note?: string): BenchRow {
  return { figure, value, target, verdict: ok ? 'met' : 'missed', ...(note ? { note } : {}) };
}

export function info(figure: string, value: string, note?: string): BenchRow {
  return { figure, value, target: '', verdict: 'info', ...(note ? { note } : {}) };
}

export function failedRow(figure: string, e: unknown): BenchRow {
  return { figure, value: 'FAILED', target: '', verdict: 'failed', note: e instanceof Error ? e.message.split('\n')[0] : String(e) };
}

export function skippedRow(figure: string, why: string): BenchRow {
  return { figure, value: 'not run', target: '', verdict: 'skipped', note: why };
}

export function formatTable(rows: BenchRow[]): string {
  const head: BenchRow = { figure: 'figure', value: 'value', target: 'target', verdict: 'info', note: 'note' };
  const all = [head, ...rows];
  const w = (f: (r: BenchRow) => string) => Math.max(...all.map((r) => f(r).length));
  const verdictText = (r: BenchRow) => (r === head ? 'verdict' : r.verdict === 'info' ? '' : r.verdict.toUpperCase());
  const w1 = w((r) => r.figure);
  const w2 = w((r) => r.value);
  const w3 = w((r) => r.target);
  const w4 = w(verdictText);
  const line = (r: BenchRow) => `${r.figure.padEnd(w1)}  ${r.value.padEnd(w2)}  ${r.target.padEnd(w3)}  ${verdictText(r).padEnd(w4)}  ${r.note ?? ''}`.trimEnd();
  return [line(head), `${'-'.repeat(w1)}  ${'-'.repeat(w2)}  ${'-'.repeat(w3)}  ${'-'.repeat(w4)}  ----`, ...rows.map(line)].join('\n');
}
