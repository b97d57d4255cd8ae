/** Live per-node progress on a terminal: one line per node, redrawn in place. */
import { QUEUED_STATUS, type NodeStatus, type RunEvent, type RunSummary } from '../core/events';
import { formatCost, summaryMoney } from '../core/money';


interface Row {
  id: string;
  type: string;
  status: NodeStatus;
  done: number;
  /** Items invoked and not settled (the engine's count, queued ones included). */
  running: number;
  failed: number;
  cached: number;
  started?: number;
  elapsedMs?: number;
  /** Each unsettled item's latest status (allocated on a node's first item status). */
  active?: Map<number, string>;
}

const ICON: Record<NodeStatus, string> = { queued: '·', running: '◐', done: '✓', failed: '✗', partial: '!', skipped: '-', cancelled: '■' };
const COLOR: Record<NodeStatus, string> = { queued: '2', running: '36', done: '32', failed: '31', partial: '33', skipped: '2', cancelled: '33' };

/** An item status that ends the item (it leaves the node's active items). */
const SETTLED = new Set(['done']);
/** An item waiting for room on its provider's lane (the engine's status, after a node label). */
const isQueued = (status: string) => status === QUEUED_STATUS || status.endsWith(`: ${QUEUED_STATUS}`);

/**
 * What a node's items are doing: items waiting for a lane count as queued, not running, and the
 * note is the statuses of the node's items still at work ("3 Pending, 1 submitting"), not the
 * status of whichever item reported last.
 */
export function nodeActivity(r: Pick<Row, 'running' | 'active'>): { queued: number; running: number; note: string } {
  if (!r.active?.size) return { queued: 0, running: r.running, note: '' };
  let queued = 0;
  const counts = new Map<string, number>();
  for (const status of r.active.values()) {
    if (isQueued(status)) queued++;
    else counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  const note = [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return { queued, running: Math.max(0, r.running - queued), note };
}

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
      case 'nodeProgress': {
        const row = this.row(e.nodeId);
        Object.assign(row, { done: e.itemsDone, running: e.itemsRunning });
        if (e.item !== undefined && e.status) {
          if (SETTLED.has(e.status)) row.active?.delete(e.item);
          else (row.active ??= new Map()).set(e.item, e.status);
        }
        break;
      }
      case 'itemDone':
        if (e.cached) this.row(e.nodeId).cached++;
        break;
      case 'nodeError': {
        const row = this.row(e.nodeId);
        row.failed++;
        if (e.item !== undefined) row.active?.delete(e.item);
        break;
      }
      case 'nodeDone':
        Object.assign(this.row(e.nodeId), { status: e.status, done: e.items, running: 0, elapsedMs: e.elapsedMs, active: undefined });
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

  /** One node's line, without colour. */
  line(r: Row, width: number): string {
    const elapsed = r.elapsedMs ?? (r.started ? Date.now() - r.started : 0);
    const { queued, running, note } = nodeActivity(r);
    const items = `${r.done} done${r.cached ? ` (${r.cached} cached)` : ''}${running ? `, ${running} running` : ''}${queued ? `, ${queued} queued` : ''}${r.failed ? `, ${r.failed} failed` : ''}`;
    return `${ICON[r.status]} ${r.id.padEnd(width)}  ${r.status.padEnd(9)} ${items.padEnd(28)} ${(elapsed / 1000).toFixed(1)}s${note && r.status === 'running' ? `  ${note}` : ''}`;
  }

  /** The table as it stands (tests read it without a terminal). */
  lines(): string[] {
    // A fold, not Math.max(...rows): a spread of some 200,000 arguments overflows the stack.
    const width = this.rows.reduce((w, r) => Math.max(w, r.id.length), 4);
    return this.rows.map((r) => this.line(r, width));
  }

  private draw(): void {
    const lines = this.lines().map((text, i) => `\x1b[${COLOR[this.rows[i].status]}m${this.redact(text).slice(0, (this.out.columns || 120) - 1)}\x1b[0m`);
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
  lines.push(...formatSkips(s.skipped));
  return lines.join('\n');
}

/** The cause inside "input item N failed upstream (cause)", the shape of every item skip. */
const UPSTREAM = /^input item \d+ failed upstream \((.*)\)$/s;

/**
 * Skips, one line per node: how many items and why (the upstream causes, counted), never one
 * line per item. A node skipped as a whole says its own reason.
 */
export function formatSkips(skipped: RunSummary['skipped']): string[] {
  if (!skipped.length) return [];
  const byNode = new Map<string, { items: number; whole?: string; causes: Map<string, number> }>();
  for (const k of skipped) {
    let entry = byNode.get(k.nodeId);
    if (!entry) byNode.set(k.nodeId, (entry = { items: 0, causes: new Map() }));
    if (k.item === undefined) {
      entry.whole = k.reason;
      continue;
    }
    entry.items++;
    const cause = UPSTREAM.exec(k.reason)?.[1] ?? k.reason;
    entry.causes.set(cause, (entry.causes.get(cause) ?? 0) + 1);
  }
  const lines = [`Skipped (nothing was sent for these):`];
  for (const [nodeId, e] of byNode) {
    if (e.whole !== undefined) lines.push(`  - node "${nodeId}": skipped as a whole: ${e.whole}`);
    if (!e.items) continue;
    const causes = [...e.causes].sort((a, b) => b[1] - a[1]);
    const shown = causes.slice(0, 3).map(([cause, n]) => (n > 1 && causes.length > 1 ? `${cause} ×${n}` : cause));
    const more = causes.length > 3 ? `; ${causes.length - 3} other causes` : '';
    lines.push(`  - node "${nodeId}": ${e.items} item${e.items === 1 ? '' : 's'} skipped, their input failed upstream (${shown.join('; ')}${more})`);
  }
  return lines;
}
