/** The edges a big graph's canvas hands to React Flow: those near the view (see flow/culling.ts). */
import { useStoreApi, type ReactFlowState } from '@xyflow/react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { edgesNear, stillInside, windowAround } from '../flow/culling';
import { estimatedSize } from '../flow/node-estimate';
import { viewRect, type Rect } from '../flow/overview';
import type { Catalog } from '../flow/flow-mapping';
import type { FlowEdge, FlowNode } from '../flow/types';
import { nodeById } from '../state/derived';

type State = ReactFlowState<FlowNode, FlowEdge>;

function windowOf(s: State, current?: Rect): Rect | undefined {
  if (!s.width || !s.height) return current;
  const view = viewRect(s.transform, s.width, s.height);
  return current && stillInside(view, current) ? current : windowAround(view);
}

/** With `enabled`, only the edges near the view; the same edges otherwise. */
export function useNearEdges<E extends FlowEdge>(edges: E[], nodes: readonly FlowNode[], catalog: Catalog, enabled: boolean): E[] {
  const store = useStoreApi<FlowNode, FlowEdge>();
  const [window, setWindow] = useState<Rect>();
  useEffect(() => {
    if (!enabled) return;
    setWindow((w) => windowOf(store.getState(), w));
    return store.subscribe((s, prev) => {
      if (s.transform !== prev.transform || s.width !== prev.width || s.height !== prev.height) setWindow((w) => windowOf(s, w));
    });
  }, [store, enabled]);
  // The same edges as last time are handed over as the same array, so React Flow does no work:
  // nodes change often as they are measured while the view moves, the edges near it rarely.
  const last = useRef<E[]>([]);
  return useMemo(() => {
    const w = window ?? windowOf(store.getState());
    if (!enabled || !w) return (last.current = edges);
    const byId = nodeById(nodes);
    const boxOf = (id: string): Rect | undefined => {
      const n = byId.get(id);
      if (!n) return undefined;
      const size = n.measured?.width !== undefined && n.measured.height !== undefined ? (n.measured as { width: number; height: number }) : estimatedSize(catalog.get(n.data.type));
      return { ...n.position, ...size };
    };
    const near = edgesNear(edges, boxOf, w);
    const same = near.length === last.current.length && near.every((e, i) => e === last.current[i]);
    return same ? last.current : (last.current = near);
  }, [edges, nodes, catalog, window, enabled, store]);
}
