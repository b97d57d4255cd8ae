/** One invocation of a node's `run` for one output item, and what becomes of its result. */
import { isAbortError, toEngineError } from '../errors';
import type { ItemValue } from '../events';
import type { StreamItem } from '../item-stream';
import type { ImageAsset, PortKind, PortValue } from '../ports';
import type { RowTag } from '../rows';
import { ItemContext } from './item-context';
import { emitProgress, failItem, nodeBroke, settleIfDone } from './node-outcome';
import type { NodeState, RunState } from './run-state';

/**
 * Runs one invocation; once it has settled the node may end (`settleIfDone`). Never rejects.
 * In a batch, `extra` holds the row-bound inputs' values for this row, `inputIndex` the per-item
 * input's index within its row, and `row` the row, carried onto the outputs.
 */
export async function invokeItem(
  run: RunState,
  s: NodeState,
  inputItem: StreamItem | undefined,
  fanIndex: number,
  item: number,
  extra?: Record<string, unknown>,
  inputIndex: number | undefined = inputItem?.index,
  row?: RowTag,
): Promise<void> {
  const { node, def } = s;
  const tagged = row ? { row } : {};
  try {
    if (run.signal.aborted && def.usesProvider) {
      s.cancelled++;
      for (const out of s.outputList) out.push({ index: item, ok: false, reason: 'cancelled', ...tagged });
    } else {
      s.running++;
      emitProgress(run, s, item, 'running');
      const whole = extra ? { ...s.whole, ...extra } : s.whole;
      const inputs = def.eachItemOf && inputItem?.ok ? { ...whole, [def.eachItemOf]: [inputItem.value] } : whole;
      const ctx = new ItemContext(run, s, item, fanIndex, inputIndex, row);
      try {
        const result = await def.run({ inputs: inputs as never, params: s.params as never, ctx });
        s.running--;
        s.items++;
        if (result) {
          for (const port in result) {
            const value = (result as Record<string, unknown>)[port];
            if (value === undefined || !s.outputs[port]) continue;
            recordOutput(run, s, item, port, value as PortValue<PortKind>, row);
          }
        }
        emitProgress(run, s, item, 'done');
      } catch (e) {
        s.running--;
        const err = toEngineError(e, 'internal', { nodeId: node.id, item });
        const reason = isAbortError(err) ? 'cancelled' : err.message;
        for (const out of s.outputList) out.push({ index: item, ok: false, reason, ...tagged });
        if (isAbortError(err)) s.cancelled++;
        else failItem(run, s, item, err, row);
      }
    }
    s.inFlight--;
    settleIfDone(run, s);
  } catch (e) {
    nodeBroke(run, s, e);
  }
}

/** Passes one output value downstream and accounts for its cost and cache hit. */
function recordOutput(run: RunState, s: NodeState, item: number, port: string, v: PortValue<PortKind>, row: RowTag | undefined): void {
  const { node, def } = s;
  s.outputs[port].push({ index: item, ok: true, value: v, ...(row ? { row } : {}) });
  const own = typeof v === 'object' && v.meta?.nodeId === node.id;
  if (own && v.meta!.cached) run.summary.cached = (run.summary.cached ?? 0) + 1;
  // Cost belongs to the node that paid for the image, not to those it passes through.
  const cost = own && !v.meta!.cached ? v.meta!.costUsd : undefined;
  if (own && v.meta!.referenceDelivery?.length) {
    run.summary.references = [...(run.summary.references ?? []), ...v.meta!.referenceDelivery.map((d) => ({ nodeId: node.id, item, ...d }))];
  }
  run.emit({
    type: 'itemDone',
    runId: run.runId,
    at: Date.now(),
    nodeId: node.id,
    item,
    ...(row ? { row: { n: row.n, fields: row.fields, local: row.local } } : {}),
    port,
    value: toItemValue(def.outputs[port].kind, v),
    ...(cost ? { costUsd: cost } : {}),
    ...(typeof v === 'object' && v.meta?.cached ? { cached: true } : {}),
  });
}

function toItemValue(kind: PortKind, v: PortValue<PortKind>): ItemValue {
  return kind === 'text' ? { kind: 'text', text: v as string } : { kind: 'image', image: v as ImageAsset };
}
