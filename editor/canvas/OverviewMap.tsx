/**
 * The minimap: every node a rectangle on one <canvas>, drawn again (at most every 100 ms) when
 * the nodes change, and the view's rectangle over it, moved straight from React Flow's store as the view moves
 * (no React render per frame). React Flow's own MiniMap renders an SVG element per node and
 * checks each one on every pan frame, which held a 2,000-node graph far below 50 frames a
 * second. Click or drag in the map to move the view there; the wheel zooms.
 */
import { useReactFlow, useStoreApi, type ReactFlowState } from '@xyflow/react';
import { useEffect, useLayoutEffect, useRef, useState, type PointerEvent, type WheelEvent } from 'react';
import { estimatedSize } from '../flow/node-estimate';
import type { Catalog } from '../flow/flow-mapping';
import { fromMap, mapFrame, toMap, viewRect, type MapFrame, type Rect } from '../flow/overview';
import type { FlowEdge, FlowNode } from '../flow/types';
import { useCatalog } from '../state/catalog-store';
import { useEditor } from '../state/editor-store';
import { categoryColors } from '../theme';

interface MapBox extends Rect {
  color: string;
  selected: boolean;
}

function useBoxSize(ref: React.RefObject<HTMLElement | null>): { width: number; height: number } {
  const [size, setSize] = useState({ width: 0, height: 0 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setSize((s) => (s.width === el.clientWidth && s.height === el.clientHeight ? s : { width: el.clientWidth, height: el.clientHeight }));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return size;
}

function draw(canvas: HTMLCanvasElement, boxes: readonly MapBox[], frame: MapFrame, width: number, height: number): void {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  if (!g) return;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  for (const b of boxes) {
    const r = toMap(frame, b);
    g.fillStyle = b.color;
    g.fillRect(r.x, r.y, Math.max(1, r.width), Math.max(1, r.height));
    if (b.selected) {
      g.strokeStyle = '#ffffff';
      g.lineWidth = 1.5;
      g.strokeRect(r.x, r.y, Math.max(1, r.width), Math.max(1, r.height));
    }
  }
}

function boxesOf(nodes: readonly FlowNode[], catalog: Catalog): MapBox[] {
  return nodes.map((n) => {
    const d = catalog.get(n.data.type);
    const size = n.measured?.width !== undefined && n.measured.height !== undefined ? (n.measured as { width: number; height: number }) : estimatedSize(d);
    return { ...n.position, width: size.width, height: size.height, color: d ? categoryColors[d.category] : '#ef4444', selected: !!n.selected };
  });
}

/** The nodes are drawn again at most this often while they change (a drag, a big graph being measured). */
const REDRAW_MS = 100;

export function OverviewMap() {
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const store = useStoreApi<FlowNode, FlowEdge>();
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useRef<HTMLDivElement>(null);
  const frame = useRef<MapFrame>(mapFrame([], 0, 0));
  const { width, height } = useBoxSize(wrap);

  useEffect(() => {
    const placeView = (s: ReactFlowState<FlowNode, FlowEdge>) => {
      const el = view.current;
      if (!el) return;
      const r = toMap(frame.current, viewRect(s.transform, s.width, s.height));
      el.style.transform = `translate(${r.x}px, ${r.y}px)`;
      el.style.width = `${r.width}px`;
      el.style.height = `${r.height}px`;
    };
    const redraw = () => {
      if (!canvas.current || !wrap.current || width <= 0) return;
      const boxes = boxesOf(useEditor.getState().nodes, useCatalog.getState().byType);
      frame.current = mapFrame(boxes, width, height);
      draw(canvas.current, boxes, frame.current, width, height);
      wrap.current.dataset.nodes = String(boxes.length);
      placeView(store.getState());
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const soon = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        redraw();
      }, REDRAW_MS);
    };
    redraw();
    const stopNodes = useEditor.subscribe((s, prev) => {
      if (s.nodes !== prev.nodes) soon();
    });
    const stopCatalog = useCatalog.subscribe(soon);
    // The view's rectangle follows every pan and zoom step without a React render.
    const stopView = store.subscribe((s, prev) => {
      if (s.transform !== prev.transform || s.width !== prev.width || s.height !== prev.height) placeView(s);
    });
    return () => {
      if (timer) clearTimeout(timer);
      stopNodes();
      stopCatalog();
      stopView();
    };
  }, [store, width, height]);

  const moveTo = (e: PointerEvent<HTMLDivElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const p = fromMap(frame.current, e.clientX - box.left, e.clientY - box.top);
    void flow.setCenter(p.x, p.y, { zoom: store.getState().transform[2] });
  };
  const onPointerDown = (e: PointerEvent<HTMLDivElement>) => {
    if (e.button !== 0) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    moveTo(e);
  };
  const onPointerMove = (e: PointerEvent<HTMLDivElement>) => {
    if (e.currentTarget.hasPointerCapture(e.pointerId)) moveTo(e);
  };
  const onWheel = (e: WheelEvent<HTMLDivElement>) => {
    const s = store.getState();
    const centre = viewRect(s.transform, s.width, s.height);
    const zoom = Math.min(s.maxZoom, Math.max(s.minZoom, s.transform[2] * (e.deltaY < 0 ? 1.2 : 1 / 1.2)));
    void flow.setCenter(centre.x + centre.width / 2, centre.y + centre.height / 2, { zoom });
  };

  return (
    <div
      ref={wrap}
      className="fg-overview-map"
      data-testid="minimap"
      aria-label="Minimap: click or drag to move the view, scroll to zoom"
      role="group"
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onWheel={onWheel}
    >
      <canvas ref={canvas} style={{ width, height }} />
      <div ref={view} className="fg-overview-view" />
    </div>
  );
}
