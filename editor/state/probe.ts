/**
 * Test hooks. A browser test sets `window.__fluxgraphProbe` before the editor loads to see what
 * the editor renders and which run events each update applied (test/e2e/editor-big-graph.test.ts
 * counts the node renders one progress event causes). Unset, as in normal use, a hook costs one
 * property read.
 */
import type { RunEvent } from '../../engine/core/events';

export interface Probe {
  /** A pipeline node's component rendered. */
  nodeRendered?(nodeId: string): void;
  /** The run store is about to apply these events (one animation frame's worth) in one update. */
  runEventsApplied?(events: readonly RunEvent[]): void;
}

export const probe: Probe | undefined = typeof window === 'undefined' ? undefined : (window as { __fluxgraphProbe?: Probe }).__fluxgraphProbe;
