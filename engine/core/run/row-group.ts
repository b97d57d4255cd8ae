/**
 * The inputs of one node that follow one row source, assembled row by row: when every wire has
 * delivered its item for row n, the row's values are ready (for a tied lookup or a combination).
 */
import type { StreamItem } from '../item-stream';
import type { RowTag } from '../rows';
import { streamOf, type NodeState, type RunState, type Wire } from './run-state';

export interface GroupRow {
  n: number;
  ok: boolean;
  reason?: string;
  /** What each bound port receives for this row. */
  values: Record<string, unknown>;
  tag?: RowTag;
}

export class RowGroup {
  private readonly partial = new Map<number, (StreamItem | undefined)[]>();
  private readonly complete = new Map<number, GroupRow>();
  private readonly waiting = new Map<number, ((row: GroupRow | undefined) => void)[]>();
  private readonly wires: { port: string; wire: Wire }[] = [];
  private open: number;
  closed = false;

  /** `onRow` for each complete row; `onClosed` once every wire has closed. */
  constructor(run: RunState, s: NodeState, readonly feed: string, ports: readonly string[], onRow: (row: GroupRow) => void, onClosed: () => void) {
    for (const port of ports) for (const wire of s.inputs[port]) this.wires.push({ port, wire });
    this.open = this.wires.length;
    const wireClosed = () => {
      if (--this.open > 0) return;
      this.closed = true;
      for (const list of this.waiting.values()) for (const wake of list) wake(undefined);
      this.waiting.clear();
      onClosed();
    };
    this.wires.forEach(({ wire }, w) =>
      streamOf(run, wire).follow((item) => {
        const n = item.row?.of[feed];
        if (n === undefined) return;
        const got = this.partial.get(n) ?? new Array<StreamItem | undefined>(this.wires.length);
        if (got[w]) return;
        got[w] = item;
        for (let i = 0; i < got.length; i++) if (!got[i]) return void this.partial.set(n, got);
        this.partial.delete(n);
        const row = this.assemble(s, n, got as StreamItem[]);
        this.complete.set(n, row);
        for (const wake of this.waiting.get(n) ?? []) wake(row);
        this.waiting.delete(n);
        onRow(row);
      }, wireClosed),
    );
  }

  /** Row n's values, once they are all there; undefined when the inputs end without it. */
  whenRow(n: number): Promise<GroupRow | undefined> {
    const row = this.complete.get(n);
    if (row || this.closed) return Promise.resolve(row);
    return new Promise((resolve) => this.waiting.set(n, [...(this.waiting.get(n) ?? []), resolve]));
  }

  private assemble(s: NodeState, n: number, items: StreamItem[]): GroupRow {
    const bad = items.find((i) => !i.ok);
    const values: Record<string, unknown> = {};
    this.wires.forEach(({ port }, w) => {
      const item = items[w];
      if (!item.ok) return;
      if (s.def.inputs[port].multiple) values[port] = [...((values[port] as unknown[]) ?? []), item.value];
      else values[port] ??= item.value;
    });
    const tag = items[0].row;
    return {
      n,
      ok: !bad,
      ...(bad && !bad.ok ? { reason: bad.reason } : {}),
      values,
      ...(tag ? { tag: { ...tag, local: 0 } } : {}),
    };
  }
}
