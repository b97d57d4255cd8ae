/**
 * Picking drafts to refine: clicking a draft thumbnail edits the `pick-images` node the drafts
 * flow into. `indices` are the upstream items' indices (0 is the first draft).
 */

export const PICK_TYPE = 'pick-images';

/**
 * The pick-images node that `nodeId`'s images feed, when there is exactly one and it takes
 * nothing else (otherwise an index would be ambiguous).
 */
export function pickTargetOf(nodeId: string, edges: readonly { source: string; target: string }[], typeOf: (id: string) => string | undefined): string | undefined {
  const targets = edges.filter((e) => e.source === nodeId && typeOf(e.target) === PICK_TYPE).map((e) => e.target);
  const unique = [...new Set(targets)];
  if (unique.length !== 1) return undefined;
  const pick = unique[0];
  const feeds = edges.filter((e) => e.target === pick);
  return feeds.length === 1 ? pick : undefined;
}

export function isPicked(params: Record<string, unknown>, index: number): boolean {
  if (params.all === true) return true;
  return Array.isArray(params.indices) && params.indices.includes(index);
}

/** New pick params with `index` toggled; `all` turns into the explicit list minus the clicked one. */
export function togglePick(params: Record<string, unknown>, index: number, itemCount: number): Record<string, unknown> {
  const current = params.all === true
    ? Array.from({ length: Math.max(itemCount, index + 1) }, (_, i) => i)
    : Array.isArray(params.indices)
      ? (params.indices as unknown[]).filter((v): v is number => Number.isInteger(v))
      : [];
  const set = new Set(current);
  if (set.has(index)) set.delete(index);
  else set.add(index);
  const { all: _all, indices: _indices, ...rest } = params;
  return { ...rest, indices: [...set].sort((a, b) => a - b) };
}

/**
 * What a pick node's `indices` count for an image: its index within its batch row (which draft
 * of this row), or outside a batch its item; and how many images share that row (for "all").
 */
export function pickSlot(img: { nodeId: string; item: number; row?: number; local?: number }, images: readonly { nodeId: string; row?: number }[]): { index: number; count: number } {
  const count = images.filter((i) => i.nodeId === img.nodeId && i.row === img.row).length;
  return { index: img.row !== undefined && img.local !== undefined ? img.local : img.item, count };
}
