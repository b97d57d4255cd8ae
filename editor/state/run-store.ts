/**
 * Live run state. Events are queued and applied once per animation frame, and each node reads
 * only `nodes[its id]`, so a burst of progress events re-renders just the nodes they name.
 */
import { create } from 'zustand';
import type { RunEvent } from '../../engine/core/events';
import { probe } from './probe';
import { applyRunEvents, idleRun, type NodeRunState, type RunState } from './run-state';

interface RunStore extends RunState {
  replace(state: RunState): void;
  enqueue(event: RunEvent): void;
  flush(): void;
}

let queue: RunEvent[] = [];
let scheduled = false;

const schedule = (fn: () => void): void => {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && !document.hidden) {
    requestAnimationFrame(fn);
  } else {
    setTimeout(fn, 16);
  }
};

export const useRunStore = create<RunStore>()((set, get) => ({
  ...idleRun,
  replace: (state) => {
    queue = [];
    set({ ...idleRun, ...state });
  },
  enqueue: (event) => {
    queue.push(event);
    if (!scheduled) {
      scheduled = true;
      schedule(() => get().flush());
    }
  },
  flush: () => {
    scheduled = false;
    if (queue.length === 0) return;
    const events = queue;
    queue = [];
    probe?.runEventsApplied?.(events);
    set((s) => applyRunEvents(s, events));
  },
}));

export function useNodeRun(nodeId: string): NodeRunState | undefined {
  return useRunStore((s) => s.nodes[nodeId]);
}
