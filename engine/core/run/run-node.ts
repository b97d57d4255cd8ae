/**
 * One node from start to end: wait for its whole inputs, then invoke it once per item of its
 * `eachItemOf` input as each item arrives (times its fan-out), then finish it.
 */
import { EngineError, nodeLabel } from '../errors';
import type { StreamItem } from '../item-stream';
import { invokeItem } from './invoke-item';
import { cancelNode, failItem, finishNode, skipItem, skipNode, startNode } from './node-outcome';
import { streamOf, type NodeState, type RunState } from './run-state';

export async function runNode(run: RunState, s: NodeState): Promise<void> {
  const { node, def } = s;
  const whole = await wholeInputs(run, s);
  if (!whole) return;
  if (run.signal.aborted && def.usesProvider) return cancelNode(run, s);

  const fan = Math.max(0, def.fanOut?.(s.params as never) ?? 1);
  const pending: Promise<void>[] = [];
  const invoke = (inputItem: StreamItem | undefined) => {
    for (let f = 0; f < fan; f++) {
      const item = inputItem ? inputItem.index * fan + f : f;
      if (inputItem && !inputItem.ok) {
        skipItem(run, s, item, inputItem.index, inputItem.reason);
        continue;
      }
      startNode(run, s);
      pending.push(invokeItem(run, s, whole, inputItem, f, item));
    }
  };

  if (def.eachItemOf) {
    const wires = s.inputs[def.eachItemOf];
    // Several wires into one list interleave (a0, b0, a1, b1, ...): indices stay unique and do
    // not depend on which item happens to arrive first. One wire keeps its indices as they are.
    const mapIndex = (i: StreamItem, wire: number) => (wires.length === 1 ? i : { ...i, index: i.index * wires.length + wire });
    const seen: number[] = [];
    await Promise.all(
      wires.map(
        (w, wire) =>
          new Promise<void>((resolve) => {
            streamOf(run, w).follow((i) => {
              if (i === 'closed') return resolve();
              const mapped = mapIndex(i, wire);
              seen.push(mapped.index);
              invoke(mapped);
            });
          }),
      ),
    );
    const broken = wires.map((w) => streamOf(run, w)).find((st) => st.brokenReason);
    const problem = broken ? undefined : def.afterItems?.(s.params as never, seen.sort((a, b) => a - b), wires.map((w) => `"${w.source}"`).join(' + '));
    if (problem) failItem(run, s, undefined, new EngineError('invalid_param', `${nodeLabel(node.id, node.type)}: ${problem}`, { nodeId: node.id }));
    if (broken && seen.length === 0) {
      await Promise.all(pending);
      return skipNode(run, s, `input "${def.eachItemOf}" is missing: ${broken.brokenReason}`);
    }
  } else {
    invoke(undefined);
  }
  await Promise.all(pending);
  finishNode(run, s);
}

/**
 * Waits for every item of every wire into the node's whole (not per-item) inputs. Undefined when
 * one of them cannot be complete: the node has been skipped.
 */
async function wholeInputs(run: RunState, s: NodeState): Promise<Record<string, unknown> | undefined> {
  const { def } = s;
  const wholePorts = Object.keys(def.inputs).filter((p) => p !== def.eachItemOf);
  await Promise.all(wholePorts.flatMap((p) => s.inputs[p].map((w) => streamOf(run, w).whenClosed())));
  const whole: Record<string, unknown> = {};
  for (const port of wholePorts) {
    const items: StreamItem[] = [];
    for (const w of s.inputs[port]) {
      const st = streamOf(run, w);
      if (st.brokenReason) {
        skipNode(run, s, `input "${port}" is missing: ${w.source} ${st.brokenReason}`);
        return undefined;
      }
      items.push(...[...st.items].sort((a, b) => a.index - b.index));
    }
    const bad = items.find((i) => !i.ok);
    if (bad && !bad.ok) {
      skipNode(run, s, `input "${port}" needs every item, and item ${bad.index} failed (${bad.reason})`);
      return undefined;
    }
    const values = items.map((i) => (i as Extract<StreamItem, { ok: true }>).value);
    whole[port] = def.inputs[port].multiple ? values : values[0];
  }
  return whole;
}
