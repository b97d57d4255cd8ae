/**
 * `results.csv` of a batch run: one line per row and image written (and per failed row), with
 * the row's fields, so a user can join it back to their list. Lines are written as events
 * arrive, so a 10,000-row batch never holds them; cost and task id are read from the image's
 * sidecar, the same figures the sidecar shows.
 */
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { RunEvent } from '../core/events';

const FIXED = ['status', 'node', 'file', 'cost_usd', 'provider', 'task_id', 'error'] as const;

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export class ResultsManifest {
  private readonly out: WriteStream;
  private readonly fields: string[];

  /** `columns`: the rows' field names, in order. */
  constructor(readonly path: string, columns: readonly string[], private readonly redact: (text: string) => string = (t) => t) {
    mkdirSync(dirname(path), { recursive: true });
    this.fields = [...new Set(columns)].filter((c) => c !== 'row' && !(FIXED as readonly string[]).includes(c));
    this.out = createWriteStream(path);
    this.line(['row', ...this.fields, ...FIXED]);
  }

  onEvent(e: RunEvent): void {
    if (e.type === 'fileWritten' && e.row) {
      let sidecar: { costUsd?: number | null; provider?: string | null; taskId?: string | null; node?: string | null } = {};
      try {
        sidecar = JSON.parse(readFileSync(e.sidecar, 'utf8'));
      } catch {
        // A sidecar that cannot be read leaves cost and task id empty; the file is still listed.
      }
      this.row(e.row, ['done', sidecar.node ?? e.nodeId, relative(dirname(this.path), e.path), sidecar.costUsd != null ? String(sidecar.costUsd) : '', sidecar.provider ?? '', sidecar.taskId ?? '', '']);
    } else if (e.type === 'nodeError' && e.row) {
      this.row(e.row, ['failed', e.nodeId, '', '', e.provider ?? '', e.taskId ?? '', e.message]);
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }

  private row(row: { n: number; fields: Record<string, string> }, rest: string[]): void {
    this.line([String(row.n), ...this.fields.map((f) => row.fields[f] ?? ''), ...rest]);
  }

  private line(values: string[]): void {
    this.out.write(this.redact(values.map(csvField).join(',')) + '\n');
  }
}
