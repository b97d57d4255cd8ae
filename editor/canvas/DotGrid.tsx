/**
 * The canvas's dot grid, drawn inside the view's own layer (React Flow's viewport portal) so it
 * moves with the graph at no cost: one element a few views wide, placed again (snapped to the
 * grid) only when the view nears its edge or the zoom changes. React Flow's <Background>
 * re-renders its SVG pattern on every pan frame and paints the whole canvas again each frame.
 */
import { useStore, ViewportPortal, type ReactFlowState } from '@xyflow/react';
import { useCallback, useMemo, useRef } from 'react';
import { stillInside, windowAround } from '../flow/culling';
import { viewRect, type Rect } from '../flow/overview';

/** Canvas units between dots, and each dot's radius in canvas units. */
const GAP = 22;
const RADIUS = 1.2;
const COLOR = '#2d3340';
/** Closer than this on screen, the dots would be a haze: none are drawn. */
const MIN_SCREEN_GAP = 6;

interface Placed {
  area: Rect;
  zoom: number;
}

/** The dotted area: a window around the view (as edges are culled), kept while the view stays in its middle. */
function areaOf(s: ReactFlowState, last: Placed | undefined): Placed | undefined {
  if (!s.width || !s.height) return undefined;
  const zoom = s.transform[2];
  const view = viewRect(s.transform, s.width, s.height);
  if (last && last.zoom === zoom && stillInside(view, last.area)) return last;
  const w = windowAround(view);
  const snap = (v: number) => Math.floor(v / GAP) * GAP;
  const x = snap(w.x);
  const y = snap(w.y);
  return { area: { x, y, width: snap(w.x + w.width) + GAP - x, height: snap(w.y + w.height) + GAP - y }, zoom };
}

export function DotGrid() {
  const last = useRef<Placed>(undefined);
  const placed = useStore(useCallback((s: ReactFlowState) => (last.current = areaOf(s, last.current)), []));
  const style = useMemo(() => {
    if (!placed || GAP * placed.zoom < MIN_SCREEN_GAP) return undefined;
    const { area } = placed;
    return {
      transform: `translate(${area.x - GAP / 2}px, ${area.y - GAP / 2}px)`,
      width: area.width,
      height: area.height,
      backgroundImage: `radial-gradient(circle at ${GAP / 2}px ${GAP / 2}px, ${COLOR} ${RADIUS}px, transparent ${RADIUS + 0.5 / placed.zoom}px)`,
      backgroundSize: `${GAP}px ${GAP}px`,
    };
  }, [placed]);
  if (!style) return null;
  return (
    <ViewportPortal>
      <div className="fg-dot-grid" style={style} aria-hidden="true" />
    </ViewportPortal>
  );
}
