/**
 * Where a node's iterated inputs meet. Each participant (the per-item input, and each row source
 * the node follows but its per-item input does not carry) delivers elements one by one; every
 * combination is formed exactly once, when its last element arrives: pairwise by row (`zip`) or
 * every pair (`product`). Row numbers and item indices come from the elements' own positions, so
 * they do not depend on arrival order.
 */
import type { StreamItem } from '../item-stream';
import type { RowTag } from '../rows';

export interface JoinElement {
  /** The row number this element stands for (its position in its participant, from 1). */
  key: number;
  ok: boolean;
  reason?: string;
  values: Record<string, unknown>;
  tag?: RowTag;
  /** The per-item input's item, for the per-item participant. */
  item?: StreamItem;
}

export interface Combination {
  /** Unique, deterministic index of the combination among the node's invocations. */
  index: number;
  elements: JoinElement[];
  tag: RowTag;
}

export class RowJoin {
  private readonly arrived: JoinElement[][];
  private readonly byKey: Map<number, JoinElement[]>[];

  /**
   * `sizes`: rows of each participant but a per-item one, needed by `product` to number rows
   * as a spreadsheet would (row = (a - 1) × |B| + b).
   */
  constructor(
    private readonly mode: 'zip' | 'product',
    private readonly participants: number,
    private readonly perItem: boolean,
    private readonly sizes: readonly number[],
    private readonly onCombination: (c: Combination) => void,
  ) {
    this.arrived = Array.from({ length: participants }, () => []);
    this.byKey = Array.from({ length: participants }, () => new Map());
  }

  add(participant: number, e: JoinElement): void {
    const lists = this.arrived.map((list, i) => (i === participant ? [e] : this.mode === 'zip' ? (this.byKey[i].get(e.key) ?? []) : list));
    this.arrived[participant].push(e);
    this.byKey[participant].set(e.key, [...(this.byKey[participant].get(e.key) ?? []), e]);
    if (lists.some((l) => l.length === 0)) return;
    for (const elements of cartesian(lists)) this.onCombination(this.combination(elements));
  }

  private combination(elements: JoinElement[]): Combination {
    const first = this.perItem ? 1 : 0;
    let c = 0;
    let span = 1;
    for (let i = first; i < elements.length; i++) {
      c = c * this.sizes[i - first] + (elements[i].key - 1);
      span *= this.sizes[i - first];
    }
    const of: Record<string, number> = {};
    const fields: Record<string, string> = {};
    for (const e of elements) {
      Object.assign(of, e.tag?.of);
      Object.assign(fields, e.tag?.fields);
    }
    const driver = this.perItem ? elements[0] : undefined;
    const local = driver ? (driver.tag?.local ?? driver.item!.index) : 0;
    if (this.mode === 'zip') {
      const key = elements[0].key;
      return { index: driver ? driver.item!.index : key - 1, elements, tag: { n: key, fields, of, local } };
    }
    const n = driver ? (driver.key - 1) * span + c + 1 : c + 1;
    return { index: driver ? driver.item!.index * span + c : c, elements, tag: { n, fields, of, local } };
  }
}

function* cartesian(lists: JoinElement[][]): Generator<JoinElement[]> {
  const idx = lists.map(() => 0);
  while (true) {
    yield lists.map((l, i) => l[idx[i]]);
    let i = lists.length - 1;
    while (i >= 0 && ++idx[i] === lists[i].length) idx[i--] = 0;
    if (i < 0) return;
  }
}
