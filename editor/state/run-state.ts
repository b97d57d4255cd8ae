/**
 * Run events → what the canvas shows. Pure and immutable: an event replaces only its own node's
 * entry, so a node component that selects `nodes[id]` re-renders only when its own state changes.
 */
import type { ErrorCode } from '../../engine/core/errors';
import type { NodeStatus, RunEvent, RunSummary } from '../../engine/core/events';
import type { ImageAsset } from '../../engine/core/ports';

export interface NodeImage {
  nodeId: string;
  item: number;
  image: ImageAsset;
}

export interface NodeRunState {
  status: NodeStatus;
  itemsDone: number;
  itemsRunning: number;
  failed: number;
  skippedItems: number;
  /** Progress of the current provider task, 0..1, when the provider reports it. */
  fraction?: number;
  /** Provider status text, e.g. "Pending". */
  progressText?: string;
  /** The first failure of this node (or its only one): what the badge says. */
  error?: { code: ErrorCode; message: string; item?: number };
  skippedReason?: string;
  images: NodeImage[];
  texts: string[];
  /** Files this node wrote (save-image). */
  files: number;
  elapsedMs?: number;
}

export type RunStatus = 'idle' | 'starting' | 'running' | RunSummary['status'];

export interface RunState {
  runId?: string;
  status: RunStatus;
  nodes: Record<string, NodeRunState>;
  /** Images in the order they arrived, for the gallery. */
  gallery: NodeImage[];
  summary?: RunSummary;
  /** A problem starting or following the run (not a node failure). */
  error?: string;
  warnings: string[];
  filesWritten: string[];
}

export const idleRun: RunState = { status: 'idle', nodes: {}, gallery: [], warnings: [], filesWritten: [] };

const blankNode: NodeRunState = {
  status: 'queued',
  itemsDone: 0,
  itemsRunning: 0,
  failed: 0,
  skippedItems: 0,
  images: [],
  texts: [],
  files: 0,
};

export function startingRun(): RunState {
  return { ...idleRun, status: 'starting' };
}

function patchNode(state: RunState, nodeId: string, patch: (n: NodeRunState) => NodeRunState): RunState {
  const prev = state.nodes[nodeId] ?? blankNode;
  return { ...state, nodes: { ...state.nodes, [nodeId]: patch(prev) } };
}

export function applyRunEvent(state: RunState, event: RunEvent): RunState {
  if (state.runId && event.runId !== state.runId) return state;
  switch (event.type) {
    case 'runStart': {
      const nodes: Record<string, NodeRunState> = {};
      for (const n of event.nodes) nodes[n.id] = blankNode;
      return { ...idleRun, runId: event.runId, status: 'running', nodes };
    }
    case 'nodeStart':
      return patchNode(state, event.nodeId, (n) => ({ ...n, status: 'running' }));
    case 'nodeProgress':
      return patchNode(state, event.nodeId, (n) => {
        const next: NodeRunState = {
          ...n,
          status: n.status === 'queued' ? 'running' : n.status,
          itemsDone: event.itemsDone,
          itemsRunning: event.itemsRunning,
        };
        if (event.fraction !== undefined) next.fraction = event.fraction;
        if (event.status !== undefined) next.progressText = event.status;
        return next;
      });
    case 'itemDone': {
      const { value } = event;
      const image = value.kind === 'image' ? { nodeId: event.nodeId, item: event.item, image: value.image } : undefined;
      const next = patchNode(state, event.nodeId, (n) => ({
        ...n,
        itemsDone: Math.max(n.itemsDone, n.images.length + n.texts.length + 1),
        images: image ? [...n.images, image].sort((a, b) => a.item - b.item) : n.images,
        texts: value.kind === 'text' ? [...n.texts, value.text] : n.texts,
      }));
      // The gallery shows each image once, under the node that made it (pick passes images on unchanged).
      return image && !next.gallery.some((g) => g.image.hash === image.image.hash) ? { ...next, gallery: [...next.gallery, image] } : next;
    }
    case 'nodeError':
      return patchNode(state, event.nodeId, (n) => ({
        ...n,
        status: event.item === undefined ? 'failed' : n.status,
        failed: n.failed + 1,
        error: n.error ?? { code: event.code, message: event.message, ...(event.item !== undefined ? { item: event.item } : {}) },
      }));
    case 'nodeSkipped':
      return patchNode(state, event.nodeId, (n) =>
        event.item === undefined
          ? { ...n, status: 'skipped', skippedReason: event.reason }
          : { ...n, skippedItems: n.skippedItems + 1, skippedReason: n.skippedReason ?? event.reason },
      );
    case 'nodeDone':
      return patchNode(state, event.nodeId, (n) => ({
        ...n,
        status: event.status,
        failed: Math.max(n.failed, event.failed),
        itemsRunning: 0,
        itemsDone: event.items,
        elapsedMs: event.elapsedMs,
        fraction: undefined,
        progressText: undefined,
      }));
    case 'warning':
      return { ...state, warnings: [...state.warnings, event.nodeId ? `${event.nodeId}: ${event.message}` : event.message] };
    case 'fileWritten': {
      const next = patchNode(state, event.nodeId, (n) => ({ ...n, files: n.files + 1 }));
      return { ...next, filesWritten: [...next.filesWritten, event.path] };
    }
    case 'runDone': {
      // Nodes that never reported an end (e.g. after a cancel) take the run's outcome.
      let nodes = state.nodes;
      for (const [id, n] of Object.entries(state.nodes)) {
        if (n.status === 'queued' || n.status === 'running') {
          const status: NodeStatus = event.summary.status === 'cancelled' ? 'cancelled' : n.status === 'queued' ? 'skipped' : 'failed';
          nodes = { ...nodes, [id]: { ...n, status, itemsRunning: 0 } };
        }
      }
      return { ...state, nodes, status: event.summary.status, summary: event.summary };
    }
  }
}

export function applyRunEvents(state: RunState, events: readonly RunEvent[]): RunState {
  let s = state;
  for (const e of events) s = applyRunEvent(s, e);
  return s;
}

export function isRunActive(status: RunStatus): boolean {
  return status === 'starting' || status === 'running';
}
