/**
 * Run events → what the canvas shows. Pure and immutable: an event replaces only its own node's
 * entry, so a node component that selects `nodes[id]` re-renders only when its own state changes.
 */
import type { ErrorCode } from '../../engine/core/errors';
import type { NodeStatus, RunEvent, RunSummary } from '../../engine/core/events';
import type { ImageAsset } from '../../engine/core/ports';
import type { RunStatus as LedgerRunStatus } from '../../engine/core/money';

export interface NodeImage {
  nodeId: string;
  item: number;
  /** The batch row (from 1) the image was made for. */
  row?: number;
  /** Its index within its row (which draft of this row): what a pick node's indices count in a batch. */
  local?: number;
  image: ImageAsset;
  /** Served from the store (cache or resume): not paid for in this run. */
  cached?: boolean;
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
  /** Items this node made that came from the store instead of a provider call. */
  cached: number;
  /** What this node's provider calls cost in this run, USD. */
  costUsd: number;
  /** Not part of the current run (a run to another node): the state is the previous run's. */
  outside?: boolean;
}

/** The editor's side of a run, then the one closed list of run statuses (engine/core/money.ts): a followed run the server lost is interrupted. */
export type RunStatus = 'idle' | 'starting' | LedgerRunStatus;

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
  /** A run to here: the nodes it runs up to (nodes outside it keep their previous state). */
  only?: string[];
  /** The earlier run this one took its random seeds from. */
  seedsFrom?: string;
}

/** Every field is named, so replacing a store's state with it clears what the last run left. */
export const idleRun: RunState = {
  status: 'idle',
  nodes: {},
  gallery: [],
  warnings: [],
  filesWritten: [],
  runId: undefined,
  summary: undefined,
  error: undefined,
  only: undefined,
  seedsFrom: undefined,
};

const blankNode: NodeRunState = {
  status: 'queued',
  itemsDone: 0,
  itemsRunning: 0,
  failed: 0,
  skippedItems: 0,
  images: [],
  texts: [],
  files: 0,
  cached: 0,
  costUsd: 0,
};

/**
 * The state while the server starts a run. A run to here keeps the previous run's node states
 * and images: the nodes in `scope` are reset when the run starts, the others are marked outside.
 */
export function startingRun(partial?: { only: string[]; scope: readonly string[]; previous: RunState }): RunState {
  if (!partial) return { ...idleRun, status: 'starting' };
  const inScope = new Set(partial.scope);
  const nodes: Record<string, NodeRunState> = {};
  for (const [id, n] of Object.entries(partial.previous.nodes)) if (!inScope.has(id)) nodes[id] = n.outside ? n : { ...n, outside: true };
  const gallery = partial.previous.gallery.filter((g) => nodes[g.nodeId]);
  return { ...idleRun, status: 'starting', only: partial.only, nodes, gallery };
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
      const seedsFrom = state.seedsFrom ? { seedsFrom: state.seedsFrom } : {};
      if (!state.only) return { ...idleRun, runId: event.runId, status: 'running', nodes, ...seedsFrom };
      // A run to here: what the run does not include keeps its previous state, marked outside.
      for (const [id, n] of Object.entries(state.nodes)) if (!(id in nodes)) nodes[id] = n.outside ? n : { ...n, outside: true };
      const gallery = state.gallery.filter((g) => nodes[g.nodeId]?.outside);
      return { ...idleRun, runId: event.runId, status: 'running', nodes, gallery, only: state.only, ...seedsFrom };
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
      // A pick passes cached images on: they count as cached only on the node that made them.
      const made = value.kind === 'image' && (value.image.meta?.nodeId === undefined || value.image.meta.nodeId === event.nodeId);
      const cached = event.cached === true && made;
      const image: NodeImage | undefined =
        value.kind === 'image'
          ? {
              nodeId: event.nodeId,
              item: event.item,
              ...(event.row ? { row: event.row.n, ...(event.row.local !== undefined ? { local: event.row.local } : {}) } : {}),
              image: value.image,
              ...(event.cached ? { cached: true } : {}),
            }
          : undefined;
      const next = patchNode(state, event.nodeId, (n) => ({
        ...n,
        itemsDone: Math.max(n.itemsDone, n.images.length + n.texts.length + 1),
        images: image ? [...n.images, image].sort((a, b) => a.item - b.item) : n.images,
        texts: value.kind === 'text' ? [...n.texts, value.text] : n.texts,
        cached: n.cached + (cached ? 1 : 0),
        costUsd: n.costUsd + (event.costUsd ?? 0),
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
        if (n.outside) continue;
        if (n.status === 'queued' || n.status === 'running') {
          const status: NodeStatus = event.summary.status === 'cancelled' ? 'cancelled' : n.status === 'queued' ? 'skipped' : 'failed';
          nodes = { ...nodes, [id]: { ...n, status, itemsRunning: 0 } };
        }
        // The summary's cost per node is the run's own account of it.
        const cost = event.summary.nodes[id]?.costUsd;
        if (cost !== undefined && Math.abs(cost - (nodes[id] ?? n).costUsd) > 1e-9) nodes = { ...nodes, [id]: { ...(nodes[id] ?? n), costUsd: cost } };
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

/** Is `nodeId` outside the current run to here (dimmed on the canvas)? */
export function isOutsideRun(state: Pick<RunState, 'only' | 'nodes' | 'status'>, nodeId: string): boolean {
  if (!state.only) return false;
  const n = state.nodes[nodeId];
  // While the run starts, nodes without state are not known to be in it yet.
  return n ? n.outside === true : state.status !== 'starting';
}

/**
 * The run whose seeds the next run reuses. After a run to here that is the run it took its own
 * seeds from: the nodes it left out have their seeds there, so they are found in the cache too.
 */
export function seedSourceOf(run: Pick<RunState, 'runId' | 'only' | 'seedsFrom'>): string | undefined {
  return run.only && run.seedsFrom ? run.seedsFrom : run.runId;
}
