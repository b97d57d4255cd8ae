/**
 * One node from start to end, driven by its input streams: it waits for its whole inputs, then
 * is invoked once per item of its `eachItemOf` input as each item arrives (times its fan-out),
 * and ends once every input has closed and every invocation has settled. The node's progress is
 * kept in counters on its state, not in promises, so a node costs its state and its events.
 *
 * In a batch a node also runs once per row: of its own row source (a list node, or `--inputs`),
 * or of the row-bound inputs it follows (`batch-plan.ts`), each invocation carrying its row.
 *
 * Reactions to a closed stream, and to a failed item, run on a microtask: the upstream node
 * reports `nodeDone` before anything it sets off downstream, and a 100,000-node chain never recurses.
 */
import { EngineError, nodeLabel } from '../errors';
import type { StreamItem } from '../item-stream';
import type { RowTag } from '../rows';
import { invokeItem } from './invoke-item';
import { cancelItem, cancelNode, failItem, guarded, isCancelled, nodeBroke, settleIfDone, skipItem, skipNode, startNode } from './node-outcome';
import { RowGroup } from './row-group';
import { RowJoin, type JoinElement } from './row-join';
import { streamOf, type NodeState, type RunState, type Wire } from './run-state';

const NONE: ReadonlySet<string> = new Set();

/** The node's inputs that iterate over batch rows (they are not whole inputs). */
function rowBound(run: RunState, s: NodeState): ReadonlySet<string> {
  const bound = run.plan.get(s.node.id)?.bound;
  return bound?.size ? new Set([...bound.values()].flat()) : NONE;
}

/** Subscribes the node to its whole inputs. A node with none is started with `beginItems` by the caller. */
export function watchInputs(run: RunState, s: NodeState): void {
  const { def } = s;
  const bound = rowBound(run, s);
  let waiting = 0;
  for (const port in def.inputs) if (port !== def.eachItemOf && !bound.has(port)) waiting += s.inputs[port].length;
  s.waitingWires = waiting;
  if (waiting === 0) return;
  const closed = () => {
    if (--s.waitingWires === 0) queueMicrotask(() => guarded(run, s, beginItems));
  };
  for (const port in def.inputs) if (port !== def.eachItemOf && !bound.has(port)) for (const w of s.inputs[port]) streamOf(run, w).onClose(closed);
}

/** The whole inputs are complete: collect them, then invoke per item (or once, times the fan-out). */
export function beginItems(run: RunState, s: NodeState): void {
  const { def } = s;
  const plan = run.plan.get(s.node.id)!;
  if (!collectWhole(run, s)) return;
  if (run.signal.aborted && def.usesProvider) {
    if (plan.feed) run.feeds.get(plan.feed)!.leave();
    return cancelNode(run, s);
  }
  s.fan = Math.max(0, def.fanOut?.(s.params as never) ?? 1);
  if (plan.feed) return beginRows(run, s, plan.feed);
  if (plan.bound.size) watchGroups(run, s);
  if (!def.eachItemOf) {
    // Row-bound inputs drive the node; it ends once their rows are all in.
    if (plan.bound.size) return;
    invokeFan(run, s, undefined);
    s.itemsIn = true;
    return settleIfDone(run, s);
  }
  const wires = s.inputs[def.eachItemOf];
  if (def.afterItems) s.seen = [];
  s.openItemWires = wires.length;
  if (wires.length === 0 && s.openGroups === 0) return itemsComplete(run, s);
  const closed = () => queueMicrotask(() => guarded(run, s, itemWireClosed));
  if (wires.length === 1) {
    streamOf(run, wires[0]).follow((i) => itemArrived(run, s, i), closed);
    return;
  }
  // Several wires into one list interleave (a0, b0, a1, b1, ...): indices stay unique and do
  // not depend on which item happens to arrive first.
  wires.forEach((w, wire) =>
    streamOf(run, w).follow(
      (i) => itemArrived(run, s, { ...i, index: i.index * wires.length + wire, ...(i.row ? { row: { ...i.row, local: i.row.local * wires.length + wire } } : {}) }),
      closed,
    ),
  );
}

/** A row source: one invocation per row, as the feed hands the rows out. */
function beginRows(run: RunState, s: NodeState, feedId: string): void {
  let ordinal = 0;
  run.feeds.get(feedId)!.listen((e) =>
    guarded(run, s, () => {
      if ('end' in e) {
        if (e.error) failItem(run, s, undefined, new EngineError('invalid_input', `${nodeLabel(s.node.id, s.node.type)}: ${(e.error as Error).message}`, { nodeId: s.node.id }));
        s.itemsIn = true;
        return settleIfDone(run, s);
      }
      invokeFan(run, s, undefined, undefined, { n: e.row.n, fields: e.row.fields, of: { [feedId]: e.row.n }, local: 0 }, ordinal++);
    }),
  );
}

/** Follows the row-bound inputs, one group per row source; the free ones meet in a join. */
function watchGroups(run: RunState, s: NodeState): void {
  const { def } = s;
  const plan = run.plan.get(s.node.id)!;
  const perItem = def.eachItemOf !== undefined;
  if (plan.free.length) {
    const participants = plan.free.length + (perItem ? 1 : 0);
    const sizes = plan.free.map((f) => run.feedSizes.get(f) ?? 0);
    s.join = new RowJoin(participants > 1 ? plan.combine : 'zip', participants, perItem, sizes, (c) => {
      const extra = Object.assign({}, ...c.elements.map((e) => e.values)) as Record<string, unknown>;
      const bad = c.elements.find((e) => !e.ok);
      invokeFan(run, s, c.elements[0].item, extra, c.tag, c.index, bad ? { at: bad.item?.index ?? bad.key - 1, reason: bad.reason ?? 'failed' } : undefined);
    });
  }
  s.groups = new Map();
  s.openGroups = plan.bound.size;
  for (const [feed, ports] of plan.bound) {
    const participant = plan.free.indexOf(feed) + (perItem ? 1 : 0);
    const free = plan.free.includes(feed);
    const group = new RowGroup(
      run,
      s,
      feed,
      ports,
      (row) => free && guarded(run, s, () => s.join!.add(participant, { key: row.n, ok: row.ok, ...(row.reason ? { reason: row.reason } : {}), values: row.values, ...(row.tag ? { tag: row.tag } : {}) })),
      () => queueMicrotask(() => guarded(run, s, groupClosed)),
    );
    s.groups.set(feed, group);
  }
}

function groupClosed(run: RunState, s: NodeState): void {
  if (--s.openGroups === 0 && s.openItemWires === 0) itemsComplete(run, s);
}

/** Waits are over for the whole inputs: their values, or the node skipped (false) when one cannot be complete. */
function collectWhole(run: RunState, s: NodeState): boolean {
  const { def } = s;
  const bound = rowBound(run, s);
  for (const port in def.inputs) {
    if (port === def.eachItemOf || bound.has(port)) continue;
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
    // Within a row, an item's index is its place in the row (pick-images picks per row).
    s.seen?.push(item.row ? item.row.local : item.index);
    const tied = run.plan.get(s.node.id)!.tied;
    if (!tied.length) return admit(run, s, item, undefined);
    // The rows of the tied row sources, looked up by this item's row (they may still be on their way).
    s.inFlight++;
    void Promise.all(tied.map((feed) => (item.row?.of[feed] !== undefined ? s.groups!.get(feed)!.whenRow(item.row.of[feed]) : Promise.resolve(undefined)))).then((rows) =>
      guarded(run, s, () => {
        s.inFlight--;
        const missing = rows.findIndex((r) => !r);
        if (missing >= 0) admit(run, s, item, undefined, { at: item.index, reason: `row ${item.row?.n ?? '?'} of "${tied[missing]}" is missing` });
        else {
          const bad = rows.find((r) => !r!.ok);
          admit(run, s, item, Object.assign({}, ...rows.map((r) => r!.values)) as Record<string, unknown>, bad ? { at: item.index, reason: bad.reason ?? 'failed' } : undefined);
        }
        settleIfDone(run, s);
      }),
    );
  } catch (e) {
    nodeBroke(run, s, e);
  }
}

/** The per-item input's item, with its tied rows' values: into the join, or invoked. */
function admit(run: RunState, s: NodeState, item: StreamItem, tiedValues: Record<string, unknown> | undefined, failed?: Failed): void {
  if (s.join) {
    const reason = failed?.reason ?? (item.ok ? undefined : item.reason);
    const element: JoinElement = { key: item.row?.n ?? item.index + 1, ok: reason === undefined, ...(reason ? { reason } : {}), values: tiedValues ?? {}, ...(item.row ? { tag: item.row } : {}), item };
    return s.join.add(0, element);
  }
  invokeFan(run, s, item, tiedValues, item.row, item.index, failed);
}

interface Failed {
  at: number;
  reason: string;
}

/**
 * The node's invocations for one input combination (or for the run): `fan` of them, each with
 * its row, which stays open in its row source (`hold`) until the invocation settles.
 */
function invokeFan(
  run: RunState,
  s: NodeState,
  inputItem: StreamItem | undefined,
  extra?: Record<string, unknown>,
  tag?: RowTag,
  index = inputItem?.index ?? 0,
  failed: Failed | undefined = inputItem && !inputItem.ok ? { at: inputItem.index, reason: inputItem.reason } : undefined,
): void {
  const inputIndex = inputItem ? (inputItem.row ? inputItem.row.local : inputItem.index) : undefined;
  for (let f = 0; f < s.fan; f++) {
    const item = index * s.fan + f;
    const row = tag && { ...tag, local: tag.local * s.fan + f };
    if (failed) {
      // An item the node would drop anyway (a pick that does not keep it) is neither skipped nor passed on.
      if (s.def.passes && inputIndex !== undefined && !s.def.passes(s.params as never, inputIndex)) continue;
      // Downstream of a cancel is cancelled too, not skipped.
      if (isCancelled(failed.reason)) cancelItem(s, item, row);
      else skipItem(run, s, item, failed.at, failed.reason, row);
      continue;
    }
    startNode(run, s);
    s.inFlight++;
    const settled = invokeItem(run, s, inputItem, f, item, extra, inputIndex, row);
    if (row) {
      const feeds = Object.entries(row.of).map(([id, n]) => [run.feeds.get(id), n] as const);
      for (const [feed, n] of feeds) feed?.hold(n);
      void settled.then(() => feeds.forEach(([feed, n]) => feed?.release(n)));
    }
  }
}

function itemWireClosed(run: RunState, s: NodeState): void {
  if (--s.openItemWires === 0 && s.openGroups === 0) itemsComplete(run, s);
}

/** Every `eachItemOf` wire has closed: check the items the node got, then end once invocations settle. */
function itemsComplete(run: RunState, s: NodeState): void {
  const { node, def } = s;
  if (def.eachItemOf) {
    const wires = s.inputs[def.eachItemOf];
    const broken = firstBroken(run, wires);
    const present = s.seen && [...new Set(s.seen)].sort((a, b) => a - b);
    const problem = broken ? undefined : def.afterItems?.(s.params as never, present!, wires.map((w) => `"${w.source}"`).join(' + '));
    if (problem) failItem(run, s, undefined, new EngineError('invalid_param', `${nodeLabel(node.id, node.type)}: ${problem}`, { nodeId: node.id }));
    if (broken && s.seenItems === 0) {
      if (isCancelled(broken)) s.cancelled++;
      else s.skipReason = `input "${def.eachItemOf}" is missing: ${broken}`;
    }
  } else if (s.groups) {
    const bound = [...rowBound(run, s)].flatMap((p) => s.inputs[p]);
    const broken = firstBroken(run, bound);
    if (broken && isCancelled(broken) && s.status === 'queued' && s.failed === 0) s.cancelled++;
    else if (broken && s.status === 'queued' && s.failed === 0) s.skipReason = `a row-bound input is missing: ${broken}`;
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
