/**
 * The pipeline being edited: React Flow nodes and edges plus the document's name and settings,
 * with undo/redo. Every update replaces only the objects it changes, so React Flow re-renders
 * only the nodes that changed.
 */
import { applyEdgeChanges, applyNodeChanges, type EdgeChange, type NodeChange, type XYPosition } from '@xyflow/react';
import { create } from 'zustand';
import type { PipelineSettings } from '../../engine/core/pipeline-schema';
import type { DocumentSource } from '../api/types';
import { copyFragment, pasteFragment, type Fragment } from '../flow/clipboard';
import { edgeId, toFlowNode, type FlowDocument } from '../flow/flow-mapping';
import { baseIdFor, isValidNodeId, nextNodeId } from '../flow/ids';
import type { EdgeEnds, FlowEdge, FlowNode } from '../flow/types';
import { ESTIMATED_NODE_SIZE } from '../flow/layout';
import { pushApart, type Box } from '../flow/placement';
import { nodeById } from './derived';
import { emptyHistory, recordChange, redoChange, undoChange, type History } from './history';

export interface Snapshot extends FlowDocument {}

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
  /** What the notice is about: it goes away as soon as that is no longer true (see effects.ts). */
  cause?: NoticeCause;
}

/** issues: the document has errors; run: a run could not start or failed. */
export type NoticeCause = 'issues' | 'run';

export interface EditorState extends Snapshot {
  history: History<Snapshot>;
  /**
   * Where the document came from (a file in --base-dir, a template), so its relative paths
   * resolve against that folder, and Save writes back there. Not part of undo.
   */
  source?: DocumentSource;
  setSource(source: DocumentSource | undefined): void;
  /** Bumped on every change that is saved (positions included): drives autosave. */
  revision: number;
  /** Bumped on every change the validator cares about (positions excluded). */
  graphRevision: number;
  /** The single selected node, shown in the inspector. */
  selectedId?: string;
  notice?: Notice;
  /** Bumped to ask the canvas to fit the view (after open, layout). */
  fitRequest: number;

  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  /** Ends an edit session (a field lost focus): the next edit is a new undo step. */
  endEdit(): void;
  /** Called when a drag starts, so the whole drag is one undo step. */
  beginDrag(): void;
  connect(c: EdgeEnds, replaces?: readonly string[]): void;
  addNode(type: string, position: XYPosition, params?: Record<string, unknown>): string;
  setParam(nodeId: string, name: string, value: unknown): void;
  /** Replaces all params of a node in one undo step. */
  replaceParams(nodeId: string, params: Record<string, unknown>): void;
  /** Returns an error message when the id cannot be used. */
  renameNode(oldId: string, newId: string): string | undefined;
  setName(name: string): void;
  setSettings(settings: PipelineSettings): void;
  load(doc: FlowDocument, options?: { record?: boolean; source?: DocumentSource }): void;
  undo(): void;
  redo(): void;
  copySelection(): Fragment | undefined;
  paste(fragment: Fragment, offset?: XYPosition): void;
  deleteSelection(): void;
  selectAll(): void;
  selectOnly(nodeId: string | undefined): void;
  /** Moves nodes (one undo step); `routes`: the layout's points per edge id (see RoutedEdge). */
  setPositions(positions: Map<string, XYPosition>, routes?: Map<string, XYPosition[]>): void;
  requestFit(): void;
  notify(kind: Notice['kind'], text: string, cause?: NoticeCause): void;
  dismissNotice(id: number): void;
  /** Dismisses the notice if it has this cause. */
  dismissCause(cause: NoticeCause): void;
}

let noticeSeq = 0;

/** Nodes that a dimensions change made taller or wider than they were measured before. */
function grownNodes(changes: NodeChange<FlowNode>[], before: readonly FlowNode[]): Set<string> {
  const grown = new Set<string>();
  for (const c of changes) {
    if (c.type !== 'dimensions' || !c.dimensions) continue;
    const was = nodeById(before).get(c.id)?.measured;
    if (was?.height !== undefined && was.width !== undefined && (c.dimensions.height > was.height + 1 || c.dimensions.width > was.width + 1)) grown.add(c.id);
  }
  return grown;
}

/** The nodes' boxes on the canvas, as measured (estimated before they are). */
export function nodeBoxes(nodes: readonly FlowNode[]): Box[] {
  return nodes.map((n) => ({
    id: n.id,
    ...n.position,
    width: n.measured?.width ?? ESTIMATED_NODE_SIZE.width,
    height: n.measured?.height ?? ESTIMATED_NODE_SIZE.height,
  }));
}

/** Moves the nodes that the grown nodes now cover out from under them. */
function withoutCover(nodes: FlowNode[], grown: ReadonlySet<string>): FlowNode[] {
  const moved = pushApart(nodeBoxes(nodes), grown);
  if (moved.size === 0) return nodes;
  return nodes.map((n) => {
    const p = moved.get(n.id);
    return p ? { ...n, position: p } : n;
  });
}

function snapshotOf(s: Snapshot): Snapshot {
  return { name: s.name, settings: s.settings, nodes: s.nodes, edges: s.edges };
}

function selectedIdOf(nodes: readonly FlowNode[]): string | undefined {
  let found: string | undefined;
  for (const n of nodes) {
    if (n.selected) {
      if (found !== undefined) return undefined;
      found = n.id;
    }
  }
  return found;
}

export const useEditor = create<EditorState>()((set, get) => {
  /** Records the current state for undo, then applies `patch`. */
  const change = (patch: Partial<EditorState> | ((s: EditorState) => Partial<EditorState>), key?: string, positionsOnly = false) =>
    set((s) => {
      const next = typeof patch === 'function' ? patch(s) : patch;
      return {
        ...next,
        history: recordChange(s.history, snapshotOf(s), key),
        revision: s.revision + 1,
        graphRevision: positionsOnly ? s.graphRevision : s.graphRevision + 1,
      };
    });

  return {
    nodes: [],
    edges: [],
    history: emptyHistory(),
    revision: 0,
    graphRevision: 0,
    fitRequest: 0,

    onNodesChange: (changes) => {
      const s = get();
      const removes = changes.some((c) => c.type === 'remove' || c.type === 'add' || c.type === 'replace');
      const dragEnd = changes.some((c) => c.type === 'position' && c.dragging === false);
      const selects = changes.some((c) => c.type === 'select');
      const applied = applyNodeChanges(changes, s.nodes);
      const grown = grownNodes(changes, s.nodes);
      const nodes = grown.size > 0 ? withoutCover(applied, grown) : applied;
      const patch: Partial<EditorState> = { nodes };
      if (selects || removes) patch.selectedId = selectedIdOf(nodes);
      if (removes) {
        const ids = new Set(nodes.map((n) => n.id));
        patch.edges = s.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
        change(patch);
      } else if (dragEnd) {
        // The undo step was recorded when the drag began.
        set({ ...patch, revision: s.revision + 1 });
      } else {
        // Nodes pushed from under a grown one moved: that is saved (not an undo step).
        set(nodes !== applied ? { ...patch, revision: s.revision + 1 } : patch);
      }
    },

    onEdgesChange: (changes) => {
      const s = get();
      const ids = new Set(s.edges.map((e) => e.id));
      // React Flow also removes the edges of deleted nodes, which are already gone here.
      const live = changes.filter((c) => c.type === 'add' || ids.has(c.id));
      if (live.length === 0) return;
      const edges = applyEdgeChanges(live, s.edges);
      if (live.some((c) => c.type === 'remove' || c.type === 'add' || c.type === 'replace')) change({ edges });
      else set({ edges });
    },

    endEdit: () => set((s) => (s.history.lastKey === undefined ? {} : { history: { ...s.history, lastKey: undefined } })),

    beginDrag: () => set((s) => ({ history: recordChange(s.history, snapshotOf(s)) })),

    connect: (c, replaces = []) => {
      const id = edgeId(c);
      change((s) => {
        const drop = new Set(replaces);
        const edges = s.edges.filter((e) => !drop.has(e.id) && e.id !== id);
        edges.push({ id, ...c });
        return { edges };
      });
    },

    addNode: (type, position, params = {}) => {
      const s = get();
      const id = nextNodeId(baseIdFor(type), new Set(s.nodes.map((n) => n.id)));
      const node: FlowNode = { ...toFlowNode({ id, type, params, position }), selected: true };
      change({ nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node], selectedId: id });
      return id;
    },

    setParam: (nodeId, name, value) => {
      change(
        (s) => ({
          nodes: s.nodes.map((n) => {
            if (n.id !== nodeId) return n;
            const params = { ...n.data.params };
            if (value === undefined) delete params[name];
            else params[name] = value;
            return { ...n, data: { ...n.data, params } };
          }),
        }),
        `param:${nodeId}:${name}`,
      );
    },

    replaceParams: (nodeId, params) => {
      change((s) => ({
        nodes: s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, params: { ...params } } } : n)),
      }));
    },

    renameNode: (oldId, newId) => {
      const s = get();
      if (oldId === newId) return undefined;
      if (!isValidNodeId(newId)) return 'use letters, digits, "_", "-" and "." only';
      if (s.nodes.some((n) => n.id === newId)) return `a node "${newId}" already exists`;
      change({
        nodes: s.nodes.map((n) => (n.id === oldId ? { ...n, id: newId } : n)),
        edges: s.edges.map((e) => {
          if (e.source !== oldId && e.target !== oldId) return e;
          const ends = {
            source: e.source === oldId ? newId : e.source,
            sourceHandle: e.sourceHandle ?? '',
            target: e.target === oldId ? newId : e.target,
            targetHandle: e.targetHandle ?? '',
          };
          return { ...e, ...ends, id: e.data?.keepId ? e.id : edgeId(ends) };
        }),
        selectedId: s.selectedId === oldId ? newId : s.selectedId,
      });
      return undefined;
    },

    setName: (name) => change({ name: name || undefined }, 'name'),
    setSettings: (settings) => change({ settings }, 'settings'),

    setSource: (source) => set((s) => ({ source, graphRevision: s.graphRevision + 1, revision: s.revision + 1 })),

    load: (doc, options) => {
      const patch = {
        source: options?.source,
        name: doc.name,
        settings: doc.settings,
        nodes: doc.nodes,
        edges: doc.edges,
        selectedId: selectedIdOf(doc.nodes),
        fitRequest: get().fitRequest + 1,
      };
      if (options?.record === false) {
        set((s) => ({ ...patch, history: emptyHistory(), revision: s.revision + 1, graphRevision: s.graphRevision + 1 }));
      } else {
        change(patch);
      }
    },

    undo: () => {
      const s = get();
      const { history, state } = undoChange(s.history, snapshotOf(s));
      if (state) {
        set({ ...state, history, selectedId: selectedIdOf(state.nodes), revision: s.revision + 1, graphRevision: s.graphRevision + 1 });
      }
    },

    redo: () => {
      const s = get();
      const { history, state } = redoChange(s.history, snapshotOf(s));
      if (state) {
        set({ ...state, history, selectedId: selectedIdOf(state.nodes), revision: s.revision + 1, graphRevision: s.graphRevision + 1 });
      }
    },

    copySelection: () => {
      const s = get();
      return copyFragment(s.nodes, s.edges);
    },

    paste: (fragment, offset = { x: 40, y: 40 }) => {
      const s = get();
      const pasted = pasteFragment(fragment, s.nodes.map((n) => n.id), offset);
      if (pasted.nodes.length === 0) return;
      change({
        nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...pasted.nodes],
        edges: [...s.edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...pasted.edges],
        selectedId: pasted.nodes.length === 1 ? pasted.nodes[0].id : undefined,
      });
    },

    deleteSelection: () => {
      const s = get();
      const gone = new Set(s.nodes.filter((n) => n.selected).map((n) => n.id));
      const edges = s.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
      if (gone.size === 0 && edges.length === s.edges.length) return;
      change({ nodes: s.nodes.filter((n) => !gone.has(n.id)), edges, selectedId: undefined });
    },

    selectAll: () =>
      set((s) => ({
        nodes: s.nodes.map((n) => (n.selected ? n : { ...n, selected: true })),
        selectedId: s.nodes.length === 1 ? s.nodes[0].id : undefined,
      })),

    selectOnly: (nodeId) =>
      set((s) => ({
        nodes: s.nodes.map((n) => {
          const want = n.id === nodeId;
          return !!n.selected === want ? n : { ...n, selected: want };
        }),
        edges: s.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        selectedId: nodeId,
      })),

    setPositions: (positions, routes) =>
      change(
        (s) => {
          const nodes = s.nodes.map((n) => {
            const p = positions.get(n.id);
            return p ? { ...n, position: p } : n;
          });
          if (!routes) return { nodes, fitRequest: s.fitRequest + 1 };
          const at = new Map(nodes.map((n) => [n.id, n.position]));
          const edges = s.edges.map((e) => {
            const points = routes.get(e.id);
            const source = at.get(e.source);
            const target = at.get(e.target);
            const { route: _, ...data } = e.data ?? {};
            if (!points?.length || !source || !target) return e.data?.route ? { ...e, data } : e;
            return { ...e, data: { ...data, route: { points, source, target } } };
          });
          return { nodes, edges, fitRequest: s.fitRequest + 1 };
        },
        undefined,
        true,
      ),

    requestFit: () => set((s) => ({ fitRequest: s.fitRequest + 1 })),

    notify: (kind, text, cause) => set({ notice: { id: ++noticeSeq, kind, text, ...(cause ? { cause } : {}) } }),
    dismissNotice: (id) => set((s) => (s.notice?.id === id ? { notice: undefined } : {})),
    dismissCause: (cause) => set((s) => (s.notice?.cause === cause ? { notice: undefined } : {})),
  };
});

/** The document the editor would save right now, in canvas form. */
export function currentFlow(): FlowDocument {
  const s = useEditor.getState();
  return snapshotOf(s);
}
