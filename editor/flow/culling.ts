/**
 * Which edges a big graph hands to React Flow. React Flow checks every edge it holds against the
 * view on every pan frame (allocating boxes as it goes); at 2,000 edges that check alone cost
 * more than a frame's budget on a slow machine. So the canvas hands it only the edges near the
 * view: those whose ends' bounding box meets a window three views wide and high around the view,
 * worked out again only when the view leaves the window's middle part. Pure: boxes in, ids out.
 */
import type { Rect } from './overview';

/** The window around a view: the view plus one view's width and height on every side. */
export function windowAround(view: Rect): Rect {
  return { x: view.x - view.width, y: view.y - view.height, width: view.width * 3, height: view.height * 3 };
}

/** The view still lies inside the window's middle (the window grown by half a view less on each side): no new edges can have come near. */
export function stillInside(view: Rect, window: Rect): boolean {
  const mx = view.width / 2;
  const my = view.height / 2;
  return view.x >= window.x + mx && view.y >= window.y + my && view.x + view.width <= window.x + window.width - mx && view.y + view.height <= window.y + window.height - my;
}

function meets(a: Rect, b: Rect): boolean {
  return a.x <= b.x + b.width && b.x <= a.x + a.width && a.y <= b.y + b.height && b.y <= a.y + a.height;
}

/** The edges whose two ends' bounding box meets the window. */
export function edgesNear<E extends { source: string; target: string }>(edges: readonly E[], boxOf: (id: string) => Rect | undefined, window: Rect): E[] {
  return edges.filter((e) => {
    const a = boxOf(e.source);
    const b = boxOf(e.target);
    if (!a || !b) return false;
    const x = Math.min(a.x, b.x);
    const y = Math.min(a.y, b.y);
    return meets({ x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y }, window);
  });
}
