/**
 * Many waiters on one AbortSignal (a run's), through a single 'abort' listener. Node's
 * EventTarget walks a signal's whole listener list on every add and remove, and a run has a
 * waiter per task and per request in flight; a Set makes each add and remove cost the same at
 * any volume.
 */
const hubs = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `onAbort` once `signal` aborts (never if it already has: check `signal.aborted` first). Returns the function that stops it. */
export function whenAborted(signal: AbortSignal, onAbort: () => void): () => void {
  let waiters = hubs.get(signal);
  if (!waiters) {
    const set = (waiters = new Set());
    hubs.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        const all = [...set];
        set.clear();
        for (const f of all) f();
      },
      { once: true },
    );
  }
  const set = waiters;
  set.add(onAbort);
  return () => void set.delete(onAbort);
}
