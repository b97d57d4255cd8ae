/**
 * The React Flow canvas: controlled by the editor store, connections checked as they are drawn
 * (with the reason shown when one is refused), the node context menu, and drops: palette
 * entries, pipeline files, and images saved by fluxgraph (which carry their pipeline).
 */
import {
  Controls,
  Panel,
  ReactFlow,
  useConnection,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type Edge,
  type OnConnectEnd,
  type IsValidConnection,
  type NodeMouseHandler,
  type XYPosition,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { checkConnection, connectionFromHandles, type ConnectionVerdict } from '../flow/connection-check';
import { ESTIMATED_NODE_SIZE } from '../flow/layout';
import { shortMessage } from '../flow/messages';
import { connectCandidates } from '../flow/connect-candidates';
import { withEstimate } from '../flow/node-estimate';
import { freeSpot } from '../flow/placement';
import { FLOW_NODE_TYPE, type EdgeEnds, type FlowEdge, type FlowNode } from '../flow/types';
import { useCatalog } from '../state/catalog-store';
import { nodeBoxes, useEditor } from '../state/editor-store';
import { useIssues } from '../state/issues-store';
import { useUi } from '../state/ui-store';
import { portColor } from '../theme';
import { TemplateList, useTemplates } from '../documents/DocumentsDialog';
import { referenceNodeAt, setReferenceImage } from '../documents/reference-images';
import { fitReadable } from './fit';
import { ConnectMenu, type ConnectMenuAt } from './ConnectMenu';
import { DotGrid } from './DotGrid';
import { NodeMenu, type NodeMenuAt } from './NodeMenu';
import { OverviewMap } from './OverviewMap';
import { PipelineNode } from './PipelineNode';
import { RoutedEdge } from './RoutedEdge';
import { useNearEdges } from './use-near-edges';

/** Module scope: React Flow re-mounts every node if this object changes. */
const nodeTypes = { [FLOW_NODE_TYPE]: PipelineNode };
const edgeTypes = { default: RoutedEdge };

export const NODE_DRAG_TYPE = 'application/x-fluxgraph-node';

/**
 * Above this many nodes the canvas draws only what is in view (React Flow's
 * onlyRenderVisibleElements): a 2,000-node graph opens and pans as fast as a small one. Smaller
 * graphs are drawn whole, so nothing pops in while panning.
 */
export const DRAW_VISIBLE_ONLY_ABOVE = 200;

function verdictFor(c: EdgeEnds): ConnectionVerdict {
  const s = useEditor.getState();
  const types = new Map(s.nodes.map((n) => [n.id, n.data.type]));
  const edges = s.edges.map((e) => ({ id: e.id, source: e.source, sourceHandle: e.sourceHandle ?? '', target: e.target, targetHandle: e.targetHandle ?? '' }));
  return checkConnection(c, { typeOf: (id) => types.get(id), edges }, useCatalog.getState().byType);
}

function endsOf(c: Connection | Edge): EdgeEnds {
  return { source: c.source, sourceHandle: c.sourceHandle ?? '', target: c.target, targetHandle: c.targetHandle ?? '' };
}

/** Why the connection being drawn would be refused, or null while it is fine. */
function refusalOf(state: { fromHandle: { nodeId: string; id?: string | null; type: 'source' | 'target' } | null; toHandle: { nodeId: string; id?: string | null; type: 'source' | 'target' } | null }): string | null {
  if (!state.fromHandle || !state.toHandle) return null;
  if (state.fromHandle.nodeId === state.toHandle.nodeId && state.fromHandle.id === state.toHandle.id && state.fromHandle.type === state.toHandle.type) return null;
  const c = connectionFromHandles(state.fromHandle, state.toHandle);
  if ('code' in c) return c.reason;
  const verdict = verdictFor(c);
  return verdict.ok ? null : verdict.reason;
}

function ConnectionHint() {
  const hint = useConnection((c) => (c.inProgress && c.toHandle && c.isValid === false ? { reason: refusalOf(c), x: c.pointer.x, y: c.pointer.y } : null));
  if (!hint?.reason) return null;
  return (
    <div className="fg-connection-hint" style={{ left: hint.x + 14, top: hint.y + 14 }}>
      {hint.reason}
    </div>
  );
}

const styledEdges = new WeakMap<FlowEdge, { key: string; edge: FlowEdge }>();

function styleEdge(e: FlowEdge, kind: string | undefined, problem: string | undefined): FlowEdge {
  const key = `${kind}|${problem ?? ''}`;
  const hit = styledEdges.get(e);
  if (hit && hit.key === key) return hit.edge;
  const color = problem ? '#ef4444' : portColor(kind ?? '');
  const edge: FlowEdge = {
    ...e,
    className: `fg-edge fg-edge-${kind ?? 'unknown'}${problem ? ' fg-edge-invalid' : ''}`,
    style: { stroke: color, strokeWidth: 2 },
    ...(problem ? { label: problem.length > 60 ? `${problem.slice(0, 57)}…` : problem, labelStyle: { fill: '#fca5a5' }, labelBgStyle: { fill: '#1f2330' } } : {}),
  };
  styledEdges.set(e, { key, edge });
  return edge;
}

/** An empty canvas offers the examples as templates. */
function EmptyCanvas() {
  const templates = useTemplates();
  return (
    <div className="fg-empty-templates" data-testid="empty-canvas">
      <p>
        Start from a template, drag a node from the palette (or search and press Enter), or <b>Open</b> a pipeline — or drop a pipeline file here, or an image fluxgraph saved.
      </p>
      <TemplateList templates={templates} />
    </div>
  );
}

/**
 * The minimap lives in its own corner of the window (below the inspector), never over the
 * canvas, so it covers no node; it can be hidden.
 */
export function Overview() {
  const shown = useUi((s) => s.minimap);
  const count = useEditor((s) => s.nodes.length);
  return (
    <section className={`fg-overview${shown ? '' : ' fg-overview-hidden'}`} aria-label="Overview">
      <button type="button" className="fg-link" onClick={() => useUi.getState().setMinimap(!shown)} aria-expanded={shown}>
        {shown ? 'Hide minimap' : 'Show minimap'}
      </button>
      {shown && count > 0 ? <OverviewMap /> : null}
    </section>
  );
}

/** Image files that may carry a pipeline (what save-image writes). */
export function isImageFile(file: Pick<File, 'name' | 'type'>): boolean {
  return /^image\/(png|jpeg|webp)$/.test(file.type) || /\.(png|jpe?g|webp)$/i.test(file.name);
}

export interface CanvasProps {
  onOpenFile(file: File): void;
  /** An image dropped on the canvas (at a canvas position): open the pipeline it carries, or add it as a reference. */
  onOpenImage(file: File, at: XYPosition): void;
}

export function Canvas({ onOpenFile, onOpenImage }: CanvasProps) {
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const onNodesChange = useEditor((s) => s.onNodesChange);
  const onEdgesChange = useEditor((s) => s.onEdgesChange);
  const fitRequest = useEditor((s) => s.fitRequest);
  const byType = useCatalog((s) => s.byType);
  const edgeIssues = useIssues((s) => s.byEdge);
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const [menu, setMenu] = useState<NodeMenuAt>();
  const closeMenu = useCallback(() => setMenu(undefined), []);

  const onNodeContextMenu = useCallback<NodeMouseHandler<FlowNode>>((e, n) => {
    e.preventDefault();
    // The menu acts on this node: select it, as a left click would.
    if (!n.selected || useEditor.getState().selectedId !== n.id) useEditor.getState().selectOnly(n.id);
    // From the keyboard (the context-menu key, Shift+F10 on a focused node) there is no pointer.
    const box = e.clientX || e.clientY ? undefined : (e.target as HTMLElement).closest('.react-flow__node')?.getBoundingClientRect();
    setMenu({ nodeId: n.id, x: box ? box.left + 16 : e.clientX, y: box ? box.top + 24 : e.clientY });
  }, []);

  const visibleOnly = nodes.length > DRAW_VISIBLE_ONLY_ABOVE;
  const shownNodes = useMemo(() => nodes.map((n) => withEstimate(n, byType)), [nodes, byType]);

  // Fit at once (estimated sizes), and again once the nodes are measured (a big graph's nodes
  // out of view are never measured: its first fit stays).
  const initialized = useNodesInitialized();
  const fitPending = useRef(false);
  useEffect(() => {
    if (fitRequest === 0) return;
    fitReadable(flow);
    fitPending.current = useEditor.getState().nodes.length <= DRAW_VISIBLE_ONLY_ABOVE;
  }, [fitRequest, flow]);
  useEffect(() => {
    if (!initialized || !fitPending.current) return;
    fitPending.current = false;
    fitReadable(flow);
  }, [initialized, fitRequest, flow]);

  const shownEdges = useMemo(() => {
    const types = new Map(useEditor.getState().nodes.map((n) => [n.id, n.data.type]));
    return edges.map((e) => {
      const t = types.get(e.source);
      const kind = t ? byType.get(t)?.outputs.find((p) => p.name === e.sourceHandle)?.kind : undefined;
      return styleEdge(e, kind, edgeIssues[e.id]?.[0] ? shortMessage(edgeIssues[e.id][0].message) : undefined);
    });
  }, [edges, byType, edgeIssues]);

  const nearEdges = useNearEdges(shownEdges, nodes, byType, visibleOnly);

  const isValidConnection = useCallback<IsValidConnection<FlowEdge>>((c) => verdictFor(endsOf(c)).ok, []);

  const onConnect = useCallback((c: Connection) => {
    const ends = endsOf(c);
    const verdict = verdictFor(ends);
    if (!verdict.ok) {
      useEditor.getState().notify('error', `Connection refused: ${verdict.reason}`);
      return;
    }
    useEditor.getState().connect(ends, verdict.replaces);
    if (verdict.replaces.length > 0) useEditor.getState().notify('info', `input "${ends.targetHandle}" of "${ends.target}" takes one connection: replaced the old one`);
  }, []);

  const [connectMenu, setConnectMenu] = useState<ConnectMenuAt>();
  const closeConnectMenu = useCallback(() => setConnectMenu(undefined), []);

  const onConnectEnd = useCallback<OnConnectEnd>(
    (event, state) => {
      if (state.isValid) return;
      // Dropped on empty canvas: offer the node types that can connect to the dragged port.
      const point = 'changedTouches' in event ? event.changedTouches[0] : event;
      const onPane = !(event.target as Element | null)?.closest?.('.react-flow__node');
      if (!state.toHandle && state.fromHandle && onPane && point) {
        const from = { nodeId: state.fromHandle.nodeId, id: state.fromHandle.id ?? null, type: state.fromHandle.type };
        const types = new Map(useEditor.getState().nodes.map((n) => [n.id, n.data.type]));
        const flowAt = flow.screenToFlowPosition({ x: point.clientX, y: point.clientY });
        setConnectMenu({ from, candidates: connectCandidates(from, useCatalog.getState().byType, (id) => types.get(id)), x: point.clientX, y: point.clientY, flowX: flowAt.x, flowY: flowAt.y });
        return;
      }
      const reason = refusalOf(state);
      if (reason) useEditor.getState().notify('error', `Connection refused: ${reason}`);
    },
    [flow],
  );

  const onDragOver = useCallback((e: DragEvent) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = e.dataTransfer.types.includes('Files') ? 'copy' : 'move';
  }, []);

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const files = [...e.dataTransfer.files];
      const file = files.find((f) => f.name.toLowerCase().endsWith('.json') || f.type === 'application/json');
      if (file) {
        onOpenFile(file);
        return;
      }
      const image = files.find(isImageFile);
      if (image) {
        // On a reference-image node: that node's image. Elsewhere: an image fluxgraph saved
        // opens its pipeline; any other image becomes a new reference-image node there.
        const onNode = referenceNodeAt(e.target);
        if (onNode) void setReferenceImage(onNode, image);
        else onOpenImage(image, flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
        return;
      }
      if (files.length > 0) {
        useEditor.getState().notify('error', 'drop a pipeline .json file or an image (PNG, JPEG, WebP)');
        return;
      }
      const type = e.dataTransfer.getData(NODE_DRAG_TYPE);
      if (!type || !useCatalog.getState().byType.has(type)) return;
      // Where it was dropped, or the nearest free space if another node is there.
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      useEditor.getState().addNode(type, freeSpot(nodeBoxes(useEditor.getState().nodes), { x: p.x, y: p.y - 30 + ESTIMATED_NODE_SIZE.height / 2 }));
    },
    [flow, onOpenFile, onOpenImage],
  );

  const beginDrag = useCallback(() => useEditor.getState().beginDrag(), []);

  // While the view moves, the drawn graph is its own compositor layer: a pan or zoom step moves
  // that layer instead of painting every node again (styles.css: .fg-moving). Not kept after
  // the move, so text is drawn sharp again at the new zoom.
  const canvasRef = useRef<HTMLDivElement>(null);
  const onMoveStart = useCallback(() => {
    canvasRef.current?.classList.add('fg-moving');
    closeMenu();
  }, [closeMenu]);
  const onMoveEnd = useCallback(() => canvasRef.current?.classList.remove('fg-moving'), []);

  return (
    <div ref={canvasRef} className="fg-canvas" onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <ReactFlow<FlowNode, FlowEdge>
        nodes={shownNodes}
        edges={nearEdges}
        onlyRenderVisibleElements={visibleOnly}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onConnectEnd={onConnectEnd}
        isValidConnection={isValidConnection}
        onNodeContextMenu={onNodeContextMenu}
        onPaneClick={closeMenu}
        onMoveStart={onMoveStart}
        onMoveEnd={onMoveEnd}
        onNodeDragStart={beginDrag}
        onSelectionDragStart={beginDrag}
        deleteKeyCode={null}
        minZoom={0.05}
        maxZoom={2.5}
        colorMode="dark"
        proOptions={{ hideAttribution: true }}
        connectionRadius={28}
        elevateEdgesOnSelect
      >
        <DotGrid />
        <Controls showInteractive={false} />
        <ConnectionHint />
        {nodes.length === 0 ? (
          <Panel position="top-center" className="fg-empty-hint">
            <EmptyCanvas />
          </Panel>
        ) : null}
      </ReactFlow>
      {menu ? <NodeMenu at={menu} onClose={closeMenu} /> : null}
      {connectMenu ? <ConnectMenu at={connectMenu} onClose={closeConnectMenu} /> : null}
    </div>
  );
}
