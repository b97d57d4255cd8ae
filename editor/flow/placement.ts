/**
 * Where nodes go without the user placing them: a new node in free space near a point, and
 * neighbours moved out from under a node that grew (thumbnails after a run). Pure: boxes in,
 * positions out.
 */
import { ESTIMATED_NODE_SIZE } from './layout';

export interface Box {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Space kept between a placed or pushed node and its neighbours. */
export const NODE_GAP = 24;

export function overlaps(a: Omit<Box, 'id'>, b: Omit<Box, 'id'>, gap = 0): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

/**
 * The top-left corner for a node of `size` as close to `centre` as free space allows: candidate
 * spots on rings around the centre, the nearest one that overlaps no box (with NODE_GAP) wins.
 */
export function freeSpot(boxes: readonly Box[], centre: { x: number; y: number }, size = ESTIMATED_NODE_SIZE): { x: number; y: number } {
  const start = { x: Math.round(centre.x - size.width / 2), y: Math.round(centre.y - size.height / 2) };
  const free = (p: { x: number; y: number }) => !boxes.some((b) => overlaps({ ...p, ...size }, b, NODE_GAP));
  if (free(start)) return start;
  const step = 40;
  for (let ring = 1; ring <= 60; ring++) {
    const candidates: { x: number; y: number }[] = [];
    for (let i = -ring; i <= ring; i++) {
      candidates.push({ x: start.x + i * step, y: start.y - ring * step }, { x: start.x + i * step, y: start.y + ring * step });
      if (i > -ring && i < ring) candidates.push({ x: start.x - ring * step, y: start.y + i * step }, { x: start.x + ring * step, y: start.y + i * step });
    }
    candidates.sort((a, b) => Math.hypot(a.x - start.x, a.y - start.y) - Math.hypot(b.x - start.x, b.y - start.y));
    const hit = candidates.find(free);
    if (hit) return hit;
  }
  // Everything near is taken: below everything.
  return { x: start.x, y: Math.max(...boxes.map((b) => b.y + b.height)) + NODE_GAP };
}

/**
 * New positions for the nodes that `grown` (nodes that just got taller or wider) now cover:
 * each is moved down just below what covers it, and what it then covers moves in turn.
 * Returns only the positions that change.
 */
export function pushApart(boxes: readonly Box[], grown: ReadonlySet<string>): Map<string, { x: number; y: number }> {
  const byId = new Map(boxes.map((b) => [b.id, { ...b }]));
  const moved = new Map<string, { x: number; y: number }>();
  const queue = [...grown].filter((id) => byId.has(id));
  let guard = boxes.length * 4 + 16;
  while (queue.length > 0 && guard-- > 0) {
    const mover = byId.get(queue.shift()!)!;
    for (const other of byId.values()) {
      if (other.id === mover.id || !overlaps(mover, other)) continue;
      // Only what lies below the node's top is pushed; what is above it stays put.
      if (other.y < mover.y) continue;
      other.y = mover.y + mover.height + NODE_GAP;
      moved.set(other.id, { x: other.x, y: other.y });
      queue.push(other.id);
    }
  }
  return moved;
}
