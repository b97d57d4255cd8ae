/**
 * One p-queue per provider ("lane"): at most `cap` active tasks (submit through result), the
 * provider's documented account limit by default. A 429 pauses the whole lane for Retry-After,
 * so the other queued calls do not hammer the provider; other lanes keep going.
 */
import PQueue from 'p-queue';

export interface LaneStats {
  cap: number;
  active: number;
  peak: number;
  queued: number;
  pausedMs: number;
}

interface Lane {
  queue: PQueue;
  cap: number;
  peak: number;
  pausedUntil: number;
  pausedMs: number;
  timer?: ReturnType<typeof setTimeout>;
}

export class Lanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly capOf: (laneId: string) => number) {}

  private lane(id: string): Lane {
    let lane = this.lanes.get(id);
    if (!lane) {
      const cap = Math.max(1, Math.floor(this.capOf(id)));
      lane = { queue: new PQueue({ concurrency: cap }), cap, peak: 0, pausedUntil: 0, pausedMs: 0 };
      this.lanes.set(id, lane);
    }
    return lane;
  }

  /**
   * Runs `task` when the lane has room. Aborting rejects at once only while the task is still
   * queued; a started task runs to its end (it handles the signal itself), so what it records —
   * a submit that was already on the wire — is never cut off, and the run waits for it.
   */
  run<T>(laneId: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const lane = this.lane(laneId);
    let started = false;
    const queued = lane.queue.add(async () => {
      started = true;
      signal?.throwIfAborted();
      lane.peak = Math.max(lane.peak, lane.queue.pending);
      return task();
    }) as Promise<T>;
    if (!signal) return queued;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!started) reject(signal.reason);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      queued.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Stops the lane from starting tasks for `ms` (running tasks go on). */
  pause(laneId: string, ms: number): void {
    const lane = this.lane(laneId);
    const until = Date.now() + ms;
    if (until <= lane.pausedUntil) return;
    lane.pausedMs += until - Math.max(Date.now(), lane.pausedUntil);
    lane.pausedUntil = until;
    lane.queue.pause();
    clearTimeout(lane.timer);
    lane.timer = setTimeout(() => {
      lane.pausedUntil = 0;
      lane.queue.start();
    }, ms);
    lane.timer.unref?.();
  }

  stats(): Record<string, LaneStats> {
    const out: Record<string, LaneStats> = {};
    for (const [id, l] of this.lanes) out[id] = { cap: l.cap, active: l.queue.pending, peak: l.peak, queued: l.queue.size, pausedMs: l.pausedMs };
    return out;
  }

  /** Clears pause timers so a finished run leaves nothing scheduled. */
  close(): void {
    for (const l of this.lanes.values()) {
      clearTimeout(l.timer);
      l.queue.clear();
    }
  }
}
