/**
 * How a node's state changes and what it reports: start, progress, a failed item, and the ways
 * a node ends (finished, skipped, cancelled), each with its events and summary entries.
 */
import { nodeLabel, toEngineError, type EngineError } from '../errors';
import type { RunEvent } from '../events';
import type { RowTag } from '../rows';
import type { NodeState, RunState } from './run-state';

const eventRow = (row: RowTag | undefined) => (row ? { row: { n: row.n, fields: row.fields } } : {});

type NodeProgressEvent = Extract<RunEvent, { type: 'nodeProgress' }>;

/** The first invocation that actually runs marks the node running (once). */
export function startNode(run: RunState, s: NodeState): void {
  if (s.status !== 'queued') return;
  s.status = 'running';
  s.started = Date.now();
  run.emit({ type: 'nodeStart', runId: run.runId, at: s.started, nodeId: s.node.id });
}

export function emitProgress(run: RunState, s: NodeState, item?: number, status?: string, fraction?: number): void {
  // Built field by field (in the order the event has always had): two of these go out per item.
  const e: Partial<NodeProgressEvent> = { type: 'nodeProgress', runId: run.runId, at: Date.now(), nodeId: s.node.id };
  if (item !== undefined) e.item = item;
  if (status) e.status = status;
  if (fraction !== undefined) e.fraction = fraction;
  e.itemsDone = s.items;
  e.itemsRunning = s.running;
  run.emit(e as NodeProgressEvent);
}

/** Records a failure of one item (or of the node as a whole when `item` is undefined). */
export function failItem(run: RunState, s: NodeState, item: number | undefined, err: EngineError, row?: RowTag): void {
  s.failed++;
  const where = row ? ` row ${row.n} item ${row.local}` : item !== undefined ? ` item ${item}` : '';
  const message = err.message.startsWith('node "') ? err.message : `${nodeLabel(s.node.id, s.node.type)}${where}: ${err.message}`;
  const rec = {
    nodeId: s.node.id,
    ...(item !== undefined ? { item } : {}),
    ...eventRow(row),
    code: err.code,
    message,
    ...(err.details.provider ? { provider: String(err.details.provider) } : {}),
    ...(err.details.taskId ? { taskId: String(err.details.taskId) } : {}),
  };
  run.summary.failures.push(rec);
  run.emit({ type: 'nodeError', runId: run.runId, at: Date.now(), ...rec });
}

const SKIPPED = 'skipped: ';

/** One item is not run because its input item failed upstream: downstream skips it too. */
export function skipItem(run: RunState, s: NodeState, item: number, upstreamIndex: number, upstreamReason: string, row?: RowTag): void {
  s.failed++;
  // Down a chain the first skip's reason is passed on as it is, never nested in another.
  const reason = upstreamReason.startsWith(SKIPPED) ? upstreamReason.slice(SKIPPED.length) : `input item ${upstreamIndex} failed upstream (${upstreamReason})`;
  run.summary.skipped.push({ nodeId: s.node.id, item, ...eventRow(row), reason });
  run.emit({ type: 'nodeSkipped', runId: run.runId, at: Date.now(), nodeId: s.node.id, item, ...eventRow(row), reason });
  for (const out of s.outputList) out.push({ index: item, ok: false, reason: `${SKIPPED}${reason}`, ...(row ? { row } : {}) });
}

/** The reason an item or stream carries when a cancel stopped it (or something upstream of it). */
export const CANCELLED = 'cancelled';

export function isCancelled(reason: string | undefined): boolean {
  return reason === CANCELLED || reason === 'was cancelled';
}

/** One item is not run because the run was cancelled upstream of it. */
export function cancelItem(s: NodeState, item: number, row?: RowTag): void {
  s.cancelled++;
  for (const out of s.outputList) out.push({ index: item, ok: false, reason: CANCELLED, ...(row ? { row } : {}) });
}

export function skipNode(run: RunState, s: NodeState, reason: string): void {
  s.status = 'skipped';
  run.summary.skipped.push({ nodeId: s.node.id, reason });
  run.emit({ type: 'nodeSkipped', runId: run.runId, at: Date.now(), nodeId: s.node.id, reason });
  for (const out of s.outputList) out.close(`was skipped (${reason})`);
  emitNodeDone(run, s);
}

export function cancelNode(run: RunState, s: NodeState): void {
  s.status = 'cancelled';
  for (const out of s.outputList) out.close('was cancelled');
  emitNodeDone(run, s);
}

/** Every item has been invoked and has settled: the node's status follows from its counts. */
export function finishNode(run: RunState, s: NodeState): void {
  s.status = s.cancelled > 0 ? 'cancelled' : s.failed === 0 ? 'done' : s.items === 0 ? 'failed' : 'partial';
  for (const out of s.outputList) out.close(s.status === 'failed' ? 'failed' : undefined);
  emitNodeDone(run, s);
}

function emitNodeDone(run: RunState, s: NodeState): void {
  const elapsedMs = s.started ? Date.now() - s.started : 0;
  run.summary.nodes[s.node.id] = { status: s.status, items: s.items, failed: s.failed, elapsedMs, costUsd: s.costUsd };
  run.emit({ type: 'nodeDone', runId: run.runId, at: Date.now(), nodeId: s.node.id, status: s.status, items: s.items, failed: s.failed, elapsedMs });
  nodeEnded(run, s);
}

/**
 * A bug in the engine's bookkeeping for this node (or a listener that threw) must not hang the
 * run: it is reported on the node, whose outputs close as failed.
 */
export function nodeBroke(run: RunState, s: NodeState, e: unknown): void {
  if (s.ended) return;
  failItem(run, s, undefined, toEngineError(e, 'internal', { nodeId: s.node.id }));
  for (const out of s.outputList) out.close('failed');
  nodeEnded(run, s);
}

function nodeEnded(run: RunState, s: NodeState): void {
  if (s.ended) return;
  s.ended = true;
  if (--run.nodesLeft === 0) run.allEnded();
}

/** Called when an invocation settles and when the inputs are complete: the node ends when both are true. */
export function settleIfDone(run: RunState, s: NodeState): void {
  if (!s.itemsIn || s.inFlight > 0 || s.ended) return;
  if (s.skipReason !== undefined) skipNode(run, s, s.skipReason);
  else finishNode(run, s);
}

export function guarded(run: RunState, s: NodeState, step: (run: RunState, s: NodeState) => void): void {
  if (s.ended) return;
  try {
    step(run, s);
  } catch (e) {
    nodeBroke(run, s, e);
  }
}
