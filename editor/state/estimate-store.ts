import { formatUsd as formatMicros, toMicros } from '../../engine/core/money';
/**
 * The cost estimate of the next run (POST /api/estimate): refreshed, debounced, whenever the
 * document changes and validates, and after each run (whose results are then free). Each node
 * reads only its own entry.
 */
import { create } from 'zustand';
import type { EstimateResponse, NodeEstimate } from '../api/types';

export interface EstimateState {
  /** The last estimate; kept (marked stale) while a newer one is computed. */
  estimate?: EstimateResponse;
  byNode: Record<string, NodeEstimate>;
  /** idle: nothing to estimate (empty or invalid document); loading: a request is on its way. */
  status: 'idle' | 'loading' | 'ready' | 'error' | 'unavailable';
  error?: string;
  /** The estimate leaves these nodes out: they have errors, or are fed by one. */
  partial?: { left: string[]; invalid: string[] };
  /** Why there is no estimate at all (status "unavailable"). */
  reason?: string;
  setLoading(): void;
  setEstimate(estimate: EstimateResponse, partial?: EstimateState['partial']): void;
  setError(message: string): void;
  setUnavailable(reason: string): void;
  clear(): void;
}

function sameNode(a: NodeEstimate | undefined, b: NodeEstimate): boolean {
  return !!a && a.calls === b.calls && a.cached === b.cached && a.usd === b.usd && a.unpriced === b.unpriced;
}

export const useEstimate = create<EstimateState>()((set, get) => ({
  byNode: {},
  status: 'idle',
  setLoading: () => set({ status: 'loading' }),
  setEstimate: (estimate, partial) => {
    const prev = get().byNode;
    const byNode: Record<string, NodeEstimate> = {};
    // An unchanged node keeps its object, so only nodes whose estimate changed re-render.
    for (const n of estimate.nodes) byNode[n.nodeId] = sameNode(prev[n.nodeId], n) ? prev[n.nodeId] : n;
    set({ estimate, byNode, status: 'ready', error: undefined, partial, reason: undefined });
  },
  setError: (error) => set({ status: 'error', error }),
  setUnavailable: (reason) => set({ estimate: undefined, byNode: {}, status: 'unavailable', error: undefined, partial: undefined, reason }),
  clear: () => set({ estimate: undefined, byNode: {}, status: 'idle', error: undefined, partial: undefined, reason: undefined }),
}));

export function useNodeEstimate(nodeId: string): NodeEstimate | undefined {
  return useEstimate((s) => s.byNode[nodeId]);
}

/** Dollars for display: the engine's one rounding function (engine/core/money.ts). */
export function formatUsd(usd: number, estimated = false): string {
  return formatMicros(toMicros(usd), estimated);
}

/** "≈ $0.400 · 6 calls (4 cached)": the toolbar's summary of an estimate. */
export function estimateText(e: Pick<EstimateResponse, 'totalUsd' | 'calls' | 'cached' | 'unpriced' | 'batch'>): string {
  const items = e.calls + e.cached;
  if (items === 0) return 'no provider calls';
  const cached = e.cached === 0 ? '' : e.calls === 0 ? ' (all cached)' : ` (${e.cached} cached)`;
  const unpriced = e.unpriced ? ` + ${e.unpriced} unpriced` : '';
  // A batch's total is for every row: say how many.
  const rows = e.batch ? ` · batch of ${e.batch.rows} row${e.batch.rows === 1 ? '' : 's'}` : '';
  return `≈ ${formatUsd(e.totalUsd)}${unpriced} · ${items} call${items === 1 ? '' : 's'}${cached}${rows}`;
}

/** "≈ $0.200 · 4 calls" / "$0 · 4 cached": a node's line. */
export function nodeEstimateText(n: NodeEstimate): string {
  const parts = [n.calls ? `≈ ${formatUsd(n.usd)}${n.unpriced ? '+?' : ''} · ${n.calls} call${n.calls === 1 ? '' : 's'}` : '$0'];
  if (n.cached) parts.push(`${n.cached} cached`);
  return parts.join(' · ');
}
