/**
 * When to ask a provider about a task. Each adapter keeps a `LatencyBook`: the latencies of its
 * recent completions per model. From it, a task's first status request comes just after its
 * expected finish (polling) or, while completion callbacks are armed, only once the task is
 * overdue (twice the 95th percentile): a task whose callback arrives is never polled.
 */
import type { PollSettings } from './poll';

/** Samples kept per model: enough for a stable quantile, short enough to follow a change. */
const WINDOW = 16;
/**
 * The first poll is timed from this quantile of recent latencies: most tasks are done by then
 * (one status request), the rest get a few short tail polls.
 */
const FIRST_POLL_QUANTILE = 0.8;
/** The first poll comes this fraction after the expected finish. */
const AFTER_EXPECTED = 0.02;
/**
 * A first poll that finds the task done only says "it took at most this long": such a sample is
 * recorded this fraction shorter, so the estimate drifts down until a poll finds the task still
 * pending, which pins the real latency again. (1 + AFTER_EXPECTED) × (1 − PROBE) < 1.
 */
const PROBE = 0.1;
/** Polls after a pending answer, as a fraction of the expected latency... */
const TAIL = 0.03;
/** ...but never closer than this. */
const MIN_GAP_MS = 20;
/**
 * A task is overdue at twice the 95th percentile latency, and never less than this after it: a
 * callback delayed by a busy network or event loop is not a missing one.
 */
const OVERDUE_MARGIN_MS = 2_000;
/** Longest wait between safety polls while callbacks are armed. */
const MAX_SAFETY_GAP_MS = 60_000;
/** Safety polls that found a task done (its callback never came) before callbacks are not trusted. */
const MISSED_BEFORE_DISTRUST = 3;

/** Recent completion latencies of one provider model. */
export class ModelLatency {
  private readonly samples = new Float64Array(WINDOW);
  private count = 0;
  private next = 0;
  private sorted: number[] | undefined;

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
    if (this.count < WINDOW) this.count++;
    this.sorted = undefined;
  }

  /** When most recent tasks had finished (FIRST_POLL_QUANTILE); undefined before the first completion. */
  expected(): number | undefined {
    return this.quantile(FIRST_POLL_QUANTILE);
  }

  p95(): number | undefined {
    return this.quantile(0.95);
  }

  private quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    this.sorted ??= Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    return this.sorted[Math.min(this.count - 1, Math.floor(q * this.count))];
  }
}

/** One provider's latencies per model, and whether its callbacks are arriving. */
export class LatencyBook {
  private readonly models = new Map<string, ModelLatency>();
  private missedInRow = 0;

  model(name: string): ModelLatency {
    let m = this.models.get(name);
    if (!m) this.models.set(name, (m = new ModelLatency()));
    return m;
  }

  /** False after several tasks in a row whose callback never came: then polls are timed as without callbacks. */
  callbacksTrusted(): boolean {
    return this.missedInRow < MISSED_BEFORE_DISTRUST;
  }

  callbackArrived(): void {
    this.missedInRow = 0;
  }

  callbackMissed(): void {
    this.missedInRow++;
  }
}

/** How a task settled, for the book. */
export type Settled = { by: 'callback' } | { by: 'nudged-poll'; nudgedAt: number } | { by: 'poll'; at: number };

/** The poll times of one task. Times are epoch ms (`Date.now()`). */
export class PollSchedule {
  /** Waiting on callbacks, polling only when overdue. */
  readonly armed: boolean;
  private readonly expected: number | undefined;
  private readonly p95: number | undefined;
  private pendingPolls = 0;
  private lastPendingAt: number | undefined;

  constructor(
    private readonly settings: PollSettings,
    private readonly submittedAt: number | undefined,
    callbacks: boolean,
    private readonly book: LatencyBook | undefined,
    private readonly latency: ModelLatency | undefined,
  ) {
    this.armed = callbacks && (book?.callbacksTrusted() ?? true);
    this.expected = latency?.expected();
    this.p95 = latency?.p95();
  }

  /**
   * The first status request. A task without a known submit time (a resumed wait) is asked about
   * at once; a fresh one never right after its submit, when it is always still pending.
   */
  first(now: number): number {
    const t0 = this.submittedAt;
    if (t0 === undefined) return now;
    const { intervalMs } = this.settings;
    let at: number;
    if (this.armed) at = t0 + this.overdueAfter();
    else at = t0 + (this.expected !== undefined ? this.expected * (1 + AFTER_EXPECTED) : intervalMs);
    return Math.max(now, at);
  }

  /** After a pending answer that asked at `askedAt`. */
  afterPending(now: number, askedAt: number): number {
    this.lastPendingAt = askedAt;
    const k = this.pendingPolls++;
    const { intervalMs, maxIntervalMs, backoff } = this.settings;
    if (this.armed) {
      const base = this.overdueAfter();
      return now + Math.min(base * 2 ** k, Math.max(MAX_SAFETY_GAP_MS, base));
    }
    if (this.expected !== undefined) {
      // Doubling: a task much later than usual costs a few polls, not one per tail gap.
      const gap = Math.max(MIN_GAP_MS, this.expected * TAIL) * 2 ** k;
      return now + Math.min(gap, maxIntervalMs);
    }
    return now + jittered(Math.min(intervalMs * backoff ** k, maxIntervalMs), this.settings.jitter);
  }

  /** Time from submit after which a task whose callback has not come is asked about. */
  private overdueAfter(): number {
    if (this.p95 === undefined) return 4 * this.settings.intervalMs;
    return Math.max(2 * this.p95, this.p95 + OVERDUE_MARGIN_MS);
  }

  /** After a callback said "look now" and the provider still said pending: a short gap, then again. */
  afterNudgedPending(now: number): number {
    const gap = this.expected !== undefined ? Math.max(MIN_GAP_MS, this.expected * TAIL) : this.settings.intervalMs;
    return now + Math.min(gap, this.settings.maxIntervalMs);
  }

  /** After a transient failure (`errors` in a row) or a Retry-After. */
  afterError(now: number, errors: number, retryAfterMs: number | undefined): number {
    const { intervalMs, maxIntervalMs, backoff, jitter } = this.settings;
    const gap = jittered(Math.min(intervalMs * backoff ** Math.max(0, errors - 1), maxIntervalMs), jitter);
    return now + Math.max(retryAfterMs ?? 0, gap);
  }

  /** Teaches the book what this task's completion says about the provider's latency. */
  settled(how: Settled): void {
    const t0 = this.submittedAt;
    if (how.by === 'callback' || how.by === 'nudged-poll') this.book?.callbackArrived();
    if (t0 === undefined || !this.latency) return;
    if (how.by === 'callback') return this.latency.record(Date.now() - t0);
    if (how.by === 'nudged-poll') return this.latency.record(how.nudgedAt - t0);
    // A safety poll found it done: its callback has not come (yet). Its latency is an upper bound,
    // which only makes the next safety polls later.
    if (this.armed) this.book?.callbackMissed();
    if (this.armed && this.lastPendingAt === undefined) return this.latency.record(how.at - t0);
    if (this.lastPendingAt !== undefined) this.latency.record((this.lastPendingAt + how.at) / 2 - t0);
    else this.latency.record((how.at - t0) * (1 - PROBE));
  }
}

export function jittered(ms: number, jitter: number): number {
  const j = Math.min(Math.max(jitter, 0), 1);
  return Math.max(0, ms * (1 - j + Math.random() * 2 * j));
}
