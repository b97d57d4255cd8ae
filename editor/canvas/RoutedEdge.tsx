/**
 * The one edge component: a bezier between its handles, or after an auto-layout, a smooth path
 * through the points the layout kept free for it (an edge that skips ranks then goes around the
 * nodes between, not through them). Moving either end drops the route.
 */
import { BaseEdge, getBezierPath, useStore, type EdgeProps, type ReactFlowState } from '@xyflow/react';
import { memo } from 'react';
import type { Point } from '../flow/layout';
import type { FlowEdge } from '../flow/types';

export const ROUTED_EDGE_TYPE = 'routed' as const;

/** Horizontal-tangent cubic segments through the points (data flows left to right). */
export function routedPath(points: readonly Point[]): string {
  let d = `M ${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const dx = (b.x - a.x) / 2;
    d += ` C ${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
  }
  return d;
}

function samePoint(a: Point | undefined, b: Point | undefined): boolean {
  return !!a && !!b && Math.abs(a.x - b.x) < 0.5 && Math.abs(a.y - b.y) < 0.5;
}

function RoutedEdgeView(props: EdgeProps<FlowEdge>) {
  const { id, source, target, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, style, markerEnd, label, labelStyle, labelBgStyle, interactionWidth } = props;
  const route = data?.route;
  // Valid while both ends sit where the layout put them.
  const valid = useStore((s: ReactFlowState) => !!route && samePoint(s.nodeLookup.get(source)?.position, route.source) && samePoint(s.nodeLookup.get(target)?.position, route.target));
  let path: string;
  let labelX: number;
  let labelY: number;
  if (valid && route && route.points.length > 0) {
    const points = [{ x: sourceX, y: sourceY }, ...route.points, { x: targetX, y: targetY }];
    path = routedPath(points);
    const mid = route.points[Math.floor(route.points.length / 2)];
    labelX = mid.x;
    labelY = mid.y;
  } else {
    [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  }
  return (
    <BaseEdge
      id={id}
      path={path}
      {...(style ? { style } : {})}
      {...(markerEnd ? { markerEnd } : {})}
      {...(label !== undefined ? { label, labelX, labelY } : {})}
      {...(labelStyle ? { labelStyle } : {})}
      {...(labelBgStyle ? { labelBgStyle } : {})}
      {...(interactionWidth !== undefined ? { interactionWidth } : {})}
      data-source={source}
      data-target={target}
      data-routed={valid ? 'true' : undefined}
    />
  );
}

export const RoutedEdge = memo(RoutedEdgeView);
