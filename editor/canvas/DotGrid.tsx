/**
 * The canvas's dot grid, as one layer slid by the view's transform (modulo one grid step) and
 * redrawn only when the zoom changes. React Flow's <Background> re-renders its SVG pattern on
 * every pan frame, which paints the whole canvas again each frame.
 */
import { useStoreApi, type ReactFlowState } from '@xyflow/react';
import { useEffect, useRef } from 'react';
import type { FlowEdge, FlowNode } from '../flow/types';

/** Canvas units between dots, and each dot's radius in screen pixels at zoom 1. */
const GAP = 22;
const RADIUS = 1.2;
const COLOR = '#2d3340';
/** Closer than this on screen, the dots would be a haze: none are drawn. */
const MIN_SCREEN_GAP = 6;

export function DotGrid() {
  const store = useStoreApi<FlowNode, FlowEdge>();
  const layer = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let zoom = -1;
    const place = (s: ReactFlowState<FlowNode, FlowEdge>) => {
      const el = layer.current;
      if (!el) return;
      const [tx, ty, z] = s.transform;
      const step = GAP * z;
      if (z !== zoom) {
        zoom = z;
        const r = RADIUS * z;
        el.style.backgroundImage = step < MIN_SCREEN_GAP ? 'none' : `radial-gradient(circle at ${step / 2}px ${step / 2}px, ${COLOR} ${r}px, transparent ${r + 0.5}px)`;
        el.style.backgroundSize = `${step}px ${step}px`;
        el.style.inset = `${-step}px`;
      }
      // Dots sit at multiples of GAP in canvas units, as React Flow's pattern draws them.
      const dx = (((tx - step / 2) % step) + step) % step;
      const dy = (((ty - step / 2) % step) + step) % step;
      el.style.transform = `translate(${dx}px, ${dy}px)`;
    };
    place(store.getState());
    return store.subscribe((s, prev) => {
      if (s.transform !== prev.transform) place(s);
    });
  }, [store]);
  return (
    <div className="react-flow__background fg-dot-grid" aria-hidden="true">
      <div ref={layer} className="fg-dot-grid-layer" />
    </div>
  );
}
