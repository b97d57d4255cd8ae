/**
 * One node from start to end, driven by its input streams: it waits for its whole inputs, then
 * is invoked once per item of its `eachItemOf` input as each item arrives (times its fan-out),
 * and ends once every input has closed and every invocation has settled. The node's progress is
 * kept in counters on its state, not in promises, so a node costs its state and its events.
 *
 * Reactions to a closed stream, and to a failed item, run on a microtask: the upstream node
 * reports `nodeDone` before anything it sets off downstream, and a 100,000-node chain never recurses.
 */
import { EngineError, nodeLabel } from '../errors';
import type { StreamItem } from '../item-stream';
import { invokeItem } from './invoke-item';
import { cancelItem, cancelNode, failItem, guarded, isCancelled, nodeBroke, settleIfDone, skipItem, skipNode, startNode } from './node-outcome';
import { streamOf, type NodeState, type RunState, type Wire } from './run-state';

/** Subscribes the node to its whole inputs. A node with none is started with `beginItems` by the caller. */
export function watchInputs(run: RunState, s: NodeState): void {
  const { def } = s;
  let waiting = 0;
  for (const port in def.inputs) if (port !== def.eachItemOf) waiting += s.inputs[port].length;
  s.waitingWires = waiting;
  if (waiting === 0) return;
  const closed = () => {
    if (--s.waitingWires === 0) queueMicrotask(() => guarded(run, s, beginItems));
  };
  for (const port in def.inputs) if (port !== def.eachItemOf) for (const w of s.inputs[port]) streamOf(run, w).onClose(closed);
}

/** The whole inputs are complete: collect them, then invoke per item (or once, times the fan-out). */
export function beginItems(run: RunState, s: NodeState): void {
  const { def } = s;
  if (!collectWhole(run, s)) return;
  if (run.signal.aborted && def.usesProvider) return cancelNode(run, s);
  s.fan = Math.max(0, def.fanOut?.(s.params as never) ?? 1);
  if (!def.eachItemOf) {
    invokeFan(run, s, undefined);
    s.itemsIn = true;
    return settleIfDone(run, s);
  }
  const wires = s.inputs[def.eachItemOf];
  if (def.afterItems) s.seen = [];
  s.openItemWires = wires.length;
  if (wires.length === 0) return itemsComplete(run, s);
  const closed = () => queueMicrotask(() => guarded(run, s, itemWireClosed));
  if (wires.length === 1) {
    streamOf(run, wires[0]).follow((i) => itemArrived(run, s, i), closed);
    return;
  }
  // Several wires into one list interleave (a0, b0, a1, b1, ...): indices stay unique and do
  // not depend on which item happens to arrive first.
  wires.forEach((w, wire) => streamOf(run, w).follow((i) => itemArrived(run, s, { ...i, index: i.index * wires.length + wire }), closed));
}

/** Waits are over for the whole inputs: their values, or the node skipped (false) when one cannot be complete. */
function collectWhole(run: RunState, s: NodeState): boolean {
  const { def } = s;
  for (const port in def.inputs) {
    if (port === def.eachItemOf) continue;
    const items: StreamItem[] = [];
    for (const w of s.inputs[port]) {
      const st = streamOf(run, w);
      if (st.brokenReason) {
        // Downstream of a cancel is cancelled too, not skipped.
        if (isCancelled(st.brokenReason)) cancelNode(run, s);
        else skipNode(run, s, `input "${port}" is missing: ${w.source} ${st.brokenReason}`);
        return false;
      }
      items.push(...[...st.items].sort((a, b) => a.index - b.index));
    }
    const bad = items.find((i) => !i.ok);
    if (bad && !bad.ok && isCancelled(bad.reason)) {
      cancelNode(run, s);
      return false;
    }
    if (bad && !bad.ok) {
      skipNode(run, s, `input "${port}" needs every item, and item ${bad.index} failed (${bad.reason})`);
      return false;
    }
    const values = items.map((i) => (i as Extract<StreamItem, { ok: true }>).value);
    s.whole[port] = def.inputs[port].multiple ? values : values[0];
  }
  return true;
}

function itemArrived(run: RunState, s: NodeState, item: StreamItem): void {
  // A failed item is passed straight on by every node it reaches (nothing runs for it): taking it
  // on a microtask keeps a long chain from recursing, and it still comes before its stream's close.
  if (!item.ok) queueMicrotask(() => takeItem(run, s, item));
  else takeItem(run, s, item);
}

function takeItem(run: RunState, s: NodeState, item: StreamItem): void {
  if (s.ended) return;
  try {
    s.seenItems++;
    s.seen?.push(item.index);
    invokeFan(run, s, item);
  } catch (e) {
    nodeBroke(run, s, e);
  }
}

/** The node's invocations for one input item (or for the run, when it has no `eachItemOf`). */
function invokeFan(run: RunState, s: NodeState, inputItem: StreamItem | undefined): void {
  for (let f = 0; f < s.fan; f++) {
    const item = inputItem ? inputItem.index * s.fan + f : f;
    if (inputItem && !inputItem.ok) {
      if (isCancelled(inputItem.reason)) cancelItem(s, item);
      else skipItem(run, s, item, inputItem.index, inputItem.reason);
      continue;
    }
    startNode(run, s);
    s.inFlight++;
    void invokeItem(run, s, inputItem, f, item);
  }
}

function itemWireClosed(run: RunState, s: NodeState): void {
  if (--s.openItemWires === 0) itemsComplete(run, s);
}

/** Every `eachItemOf` wire has closed: check the items the node got, then end once invocations settle. */
function itemsComplete(run: RunState, s: NodeState): void {
  const { node, def } = s;
  const wires = s.inputs[def.eachItemOf!];
  const broken = firstBroken(run, wires);
  const problem = broken ? undefined : def.afterItems?.(s.params as never, s.seen!.sort((a, b) => a - b), wires.map((w) => `"${w.source}"`).join(' + '));
  if (problem) failItem(run, s, undefined, new EngineError('invalid_param', `${nodeLabel(node.id, node.type)}: ${problem}`, { nodeId: node.id }));
  if (broken && s.seenItems === 0) {
    if (isCancelled(broken)) s.cancelled++;
    else s.skipReason = `input "${def.eachItemOf}" is missing: ${broken}`;
  }
  s.itemsIn = true;
  settleIfDone(run, s);
}

function firstBroken(run: RunState, wires: readonly Wire[]): string | undefined {
  for (const w of wires) {
    const reason = streamOf(run, w).brokenReason;
    if (reason) return reason;
  }
  return undefined;
}
