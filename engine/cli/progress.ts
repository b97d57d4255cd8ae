/** Live per-node progress on a terminal: one line per node, redrawn in place. */
import type { NodeStatus, RunEvent, RunSummary } from '../core/events';
import { formatCost, summaryMoney } from '../core/money';


interface Row {
  id: string;
  type: string;
  status: NodeStatus;
  done: number;
  running: number;
  failed: number;
  cached: number;
  started?: number;
  elapsedMs?: number;
  note?: string;
}

const ICON: Record<NodeStatus, string> = { queued: '·', running: '◐', done: '✓', failed: '✗', partial: '!', skipped: '-', cancelled: '■' };
const COLOR: Record<NodeStatus, string> = { queued: '2', running: '36', done: '32', failed: '31', partial: '33', skipped: '2', cancelled: '33' };

export class TerminalProgress {
  private rows: Row[] = [];
  private byId = new Map<string, Row>();
  private drawn = 0;
  private timer?: ReturnType<typeof setInterval>;

  constructor(private readonly out: NodeJS.WriteStream, private readonly redact: (s: string) => string) {}

  onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'runStart':
        this.rows = e.nodes.map((n) => ({ id: n.id, type: n.type, status: 'queued', done: 0, running: 0, failed: 0, cached: 0 }));
        this.byId = new Map(this.rows.map((r) => [r.id, r]));
        this.timer = setInterval(() => this.draw(), 200);
        this.timer.unref();
        break;
      case 'nodeStart':
        Object.assign(this.row(e.nodeId), { status: 'running', started: e.at });
        break;
      case 'nodeProgress':
        Object.assign(this.row(e.nodeId), { done: e.itemsDone, running: e.itemsRunning, ...(e.status ? { note: e.status } : {}) });
        break;
      case 'itemDone':
        if (e.cached) this.row(e.nodeId).cached++;
        break;
      case 'nodeError':
        this.row(e.nodeId).failed++;
        break;
      case 'nodeDone':
        Object.assign(this.row(e.nodeId), { status: e.status, done: e.items, running: 0, elapsedMs: e.elapsedMs, note: undefined });
        break;
      case 'nodeSkipped':
        if (e.item === undefined) this.row(e.nodeId).status = 'skipped';
        break;
      case 'runDone':
        clearInterval(this.timer);
        this.draw();
        break;
      default:
        return;
    }
  }

  private row(id: string): Row {
    return this.byId.get(id) ?? { id, type: '', status: 'queued', done: 0, running: 0, failed: 0, cached: 0 };
  }

  private draw(): void {
    // A fold, not Math.max(...rows): a spread of some 200,000 arguments overflows the stack.
    const width = this.rows.reduce((w, r) => Math.max(w, r.id.length), 4);
    const lines = this.rows.map((r) => {
      const elapsed = r.elapsedMs ?? (r.started ? Date.now() - r.started : 0);
      const items = `${r.done} done${r.cached ? ` (${r.cached} cached)` : ''}${r.running ? `, ${r.running} running` : ''}${r.failed ? `, ${r.failed} failed` : ''}`;
      const text = `${ICON[r.status]} ${r.id.padEnd(width)}  ${r.status.padEnd(9)} ${items.padEnd(28)} ${(elapsed / 1000).toFixed(1)}s${r.note && r.status === 'running' ? `  ${r.note}` : ''}`;
      return `\x1b[${COLOR[r.status]}m${this.redact(text).slice(0, (this.out.columns || 120) - 1)}\x1b[0m`;
    });
    let buf = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) buf += `\x1b[2K${l}\n`;
    this.out.write(buf);
    this.drawn = lines.length;
  }
}

const ROUTE_NAMES: Record<string, string> = {
  'given-url': 'the URL given',
  'provider-url': "a provider's result URL",
  upload: "the provider's upload API",
  bucket: 'the reference bucket',
  'public-server': "fluxgraph's public server",
};

export function formatSummary(s: RunSummary, outDir: string): string {
  const lines: string[] = [];
  const took = (s.elapsedMs / 1000).toFixed(1);
  const images = s.images ?? s.imagesWritten.length;
  const from = [s.cached ? `${s.cached} from cache` : '', s.shared ? `${s.shared} shared with another run at $0` : ''].filter(Boolean).join(', ');
  lines.push(
    `Run ${s.runId} ${s.status} in ${took}s: ${images} image${images === 1 ? '' : 's'} written to ${outDir}, ${s.providerCalls} provider call${s.providerCalls === 1 ? '' : 's'}${from ? ` (${from})` : ''}, cost ${formatCost(summaryMoney(s))}`,
  );
  if (s.references?.length) {
    const by = new Map<string, number>();
    for (const r of s.references) by.set(r.route, (by.get(r.route) ?? 0) + 1);
    lines.push(`  references delivered: ${[...by].map(([route, n]) => `${n} via ${ROUTE_NAMES[route] ?? route}`).join(', ')}`);
  }
  for (const w of s.warnings) lines.push(`  warning: ${w.message}`);
  if (s.failures.length) {
    lines.push(`${s.failures.length} failure${s.failures.length === 1 ? '' : 's'}:`);
    for (const f of s.failures) lines.push(`  ✗ ${f.message} [${f.code}${f.taskId ? `, task ${f.taskId}` : ''}]`);
  }
  if (s.skipped.length) {
    lines.push(`${s.skipped.length} skipped:`);
    for (const k of s.skipped) lines.push(`  - node "${k.nodeId}"${k.item !== undefined ? ` item ${k.item}` : ''}: ${k.reason}`);
  }
  return lines.join('\n');
}
