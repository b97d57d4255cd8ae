/**
 * Undo/redo as two stacks of immutable snapshots. Snapshots share structure with the live state
 * (nodes are replaced, never mutated), so keeping a hundred of a 500-node graph is cheap.
 * Consecutive edits with the same key (typing in one field) coalesce into one undo step.
 */
export interface History<T> {
  past: T[];
  future: T[];
  lastKey?: string;
  lastAt?: number;
}

export const HISTORY_LIMIT = 100;
export const COALESCE_MS = 1200;

export function emptyHistory<T>(): History<T> {
  return { past: [], future: [] };
}

/** Call before applying a change, with the state as it was. */
export function recordChange<T>(h: History<T>, before: T, key?: string, now = Date.now()): History<T> {
  if (key !== undefined && key === h.lastKey && h.lastAt !== undefined && now - h.lastAt < COALESCE_MS) {
    return { ...h, future: [], lastAt: now };
  }
  const past = h.past.length >= HISTORY_LIMIT ? h.past.slice(h.past.length - HISTORY_LIMIT + 1) : h.past.slice();
  past.push(before);
  return { past, future: [], lastKey: key, lastAt: now };
}

export function undoChange<T>(h: History<T>, current: T): { history: History<T>; state?: T } {
  if (h.past.length === 0) return { history: h };
  const past = h.past.slice(0, -1);
  const state = h.past[h.past.length - 1];
  return { history: { past, future: [current, ...h.future] }, state };
}

export function redoChange<T>(h: History<T>, current: T): { history: History<T>; state?: T } {
  if (h.future.length === 0) return { history: h };
  const [state, ...future] = h.future;
  return { history: { past: [...h.past, current], future }, state };
}
