/**
 * One p-queue per provider account ("lane", `bfl:teamA`): at most `cap` active tasks (submit
 * through result), the provider's documented account limit by default. A 429 pauses the whole
 * lane for Retry-After, so the other queued calls do not hammer the provider; other lanes keep
 * going. With a {@link SlotGate}, the cap holds across every process sharing the gate (the SQLite
 * ledger's lease rows): a task starts only once it holds a slot there too.
 */
import PQueue from 'p-queue';

export interface LaneStats {
  cap: number;
  active: number;
  peak: number;
  queued: number;
  pausedMs: number;
  /** Paused by a 429 right now. */
  paused: boolean;
}

/** Slots of a lane shared with other processes, so together they never pass its cap. */
export interface SlotGate {
  /** Waits for one of the lane's `cap` slots (counted across every process); resolves to its release. */
  acquire(laneId: string, cap: number, signal?: AbortSignal): Promise<() => void>;
}

/** The lane of one provider account. */
export function laneId(provider: string, account: string): string {
  return `${provider}:${account}`;
}

/** The provider a lane id belongs to (a plain provider id is its own lane). */
export function laneProvider(id: string): string {
  const colon = id.indexOf(':');
  return colon < 0 ? id : id.slice(0, colon);
}

interface Lane {
  queue: PQueue;
  cap: number;
  /** Tasks running (past the gate). */
  active: number;
  peak: number;
  pausedUntil: number;
  pausedMs: number;
  timer?: ReturnType<typeof setTimeout>;
}

interface Queued {
  reject(reason: unknown): void;
}

export class Lanes {
  private readonly lanes = new Map<string, Lane>();
  private readonly queued = new WeakMap<AbortSignal, Set<Queued>>();

  constructor(
    private readonly capOf: (laneId: string) => number,
    private readonly gate?: SlotGate,
  ) {}

  private lane(id: string): Lane {
    let lane = this.lanes.get(id);
    if (!lane) {
      const cap = Math.max(1, Math.floor(this.capOf(id)));
      lane = { queue: new PQueue({ concurrency: cap }), cap, active: 0, peak: 0, pausedUntil: 0, pausedMs: 0 };
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
    const queued = signal && this.queuedOn(signal);
    let entry: Queued | undefined;
    let started = false;
    const job = lane.queue.add(async () => {
      signal?.throwIfAborted();
      // Waiting for another process to free a slot is still waiting in the queue.
      const release = this.gate ? await this.gate.acquire(laneId, lane.cap, signal) : undefined;
      try {
        started = true;
        if (entry) queued!.delete(entry);
        signal?.throwIfAborted();
        lane.peak = Math.max(lane.peak, ++lane.active);
        try {
          return await task();
        } finally {
          lane.active--;
        }
      } finally {
        release?.();
      }
    }) as Promise<T>;
    if (!signal) return job;
    return new Promise<T>((resolve, reject) => {
      // The job may have started already (p-queue starts it inside `add` when there is room).
      if (signal.aborted) reject(signal.reason);
      else if (!started) queued!.add((entry = { reject }));
      job.then(resolve, reject);
    });
  }

  /**
   * The calls still queued under `signal`, rejected together when it aborts: one listener per
   * signal, not one per call (an AbortSignal's listener list is walked on every add and remove,
   * and a large run queues thousands of calls).
   */
  private queuedOn(signal: AbortSignal): Set<Queued> {
    let set = this.queued.get(signal);
    if (!set) {
      const calls = (set = new Set());
      this.queued.set(signal, calls);
      signal.addEventListener(
        'abort',
        () => {
          for (const c of calls) c.reject(signal.reason);
          calls.clear();
        },
        { once: true },
      );
    }
    return set;
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

  /** Free places of the lane (cap minus running and queued calls); paused lanes come last. */
  room(laneId: string): number {
    const l = this.lane(laneId);
    const room = l.cap - l.queue.pending - l.queue.size;
    return l.pausedUntil > Date.now() ? room - 1e9 : room;
  }

  stats(): Record<string, LaneStats> {
    const out: Record<string, LaneStats> = {};
    const now = Date.now();
    for (const [id, l] of this.lanes) {
      out[id] = { cap: l.cap, active: l.active, peak: l.peak, queued: l.queue.size + l.queue.pending - l.active, pausedMs: l.pausedMs, paused: l.pausedUntil > now };
    }
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
