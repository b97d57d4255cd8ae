/**
 * When to ask a provider about a task. Each adapter keeps a `LatencyBook`: the latencies of its
 * recent completions per model. From it, a task's first status request comes just after its
 * expected finish (polling) or, while completion callbacks are armed, only once the task is
 * overdue (twice the 95th percentile): a task whose callback arrives is never polled.
 *
 * Polling learns from censored observations. A first poll that finds a task done says only "it
 * took at most this long", and at the estimate itself that says nothing new, so it is not
 * recorded (recording it as a sample, or a fixed fraction shorter, made the estimate creep up or
 * come down by a few percent per round of tasks). Instead every eighth task is a probe: it asks
 * earlier than expected, by a depth taken in turn from a ladder (3% to 75% early). A probe that
 * finds its task done proves the estimate too high and caps it at once; deep probes catch a large
 * drop within one round of tasks. Probes still waiting for their first poll are re-timed whenever
 * the estimate falls (so several steps down fit in one round), other tasks when it falls by 40% or
 * more (re-timing them on every small step would make them ask too early, and again). A probe that finds its task pending just asks again at the
 * expected time (one extra status request). A task still pending at its expected time proves
 * the estimate too low: the time its next poll found it done is recorded, and the cap rises to it.
 */
import type { PollSettings } from './poll';

/** Samples kept per model: enough for a stable quantile, short enough to follow a change. */
const WINDOW = 16;
/**
 * The first poll is timed from this quantile of recent latencies: most tasks are done by then
 * (one status request), the rest get a few short tail polls.
 */
const FIRST_POLL_QUANTILE = 0.8;
/** A task's first poll comes this fraction after the expected finish. */
const AFTER_EXPECTED = 0.01;
/** One task in this many is a probe. */
const PROBE_EVERY = 8;
/** How much earlier than expected the probes ask, in turn: shallow ones pin the estimate, deep ones catch a large drop. */
const PROBE_DEPTHS = [0.03, 0.75, 0.06, 0.5, 0.12, 0.25] as const;
/** Tasks waiting for their first poll are re-timed when the estimate falls by this fraction or more. */
const RETIME_DROP = 0.4;
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

/** Recent completion latencies of one provider model, and the cap recent probes put on them. */
export class ModelLatency {
  private readonly samples = new Float64Array(WINDOW);
  private count = 0;
  private next = 0;
  private sorted: number[] | undefined;
  /** A recent probe found its task done by then: the estimate is at most this (ms). */
  private ceiling = Infinity;
  private planned = 0;
  private probes = 0;
  /** Tasks waiting for their first poll, told when the estimate falls a lot... */
  private readonly droppers = new Set<() => void>();
  /** ...and probes waiting for theirs, told whenever it falls. */
  private readonly waitingProbes = new Set<() => void>();

  /** A latency known to a few percent: a callback, or a nudged poll right after one. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.push(ms);
    if (ms > this.ceiling) this.ceiling = ms;
  }

  private push(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
    if (this.count < WINDOW) this.count++;
    this.sorted = undefined;
  }

  /**
   * A task was still pending at its expected time, and done by `hi` ms: the estimate was too low.
   * Recorded at `hi`, the end of the interval: asking a little late costs less than asking again.
   * The cap rises with it, never further: samples older than the last probe stay capped.
   */
  pendingAtExpected(hi: number): void {
    this.record(hi);
  }

  /** A probe (or a task polled before anything was known) found its task done `ms` after submit. */
  doneEarly(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const before = this.expected();
    this.push(ms);
    this.ceiling = Math.min(this.ceiling, ms);
    const after = this.expected()!;
    if (before === undefined || after >= before) return;
    for (const wake of [...this.waitingProbes]) wake();
    if (after <= before * (1 - RETIME_DROP)) for (const wake of [...this.droppers]) wake();
  }

  /** When most recent tasks had finished (FIRST_POLL_QUANTILE), capped by recent probes; undefined before the first completion. */
  expected(): number | undefined {
    const q = this.quantile(FIRST_POLL_QUANTILE);
    return q === undefined ? undefined : Math.min(q, this.ceiling);
  }

  p95(): number | undefined {
    return this.quantile(0.95);
  }

  /** How early the next task's first poll asks: 0 for most, a probe depth for every PROBE_EVERY-th. */
  nextDepth(): number {
    if (this.count === 0 || this.planned++ % PROBE_EVERY !== 0) return 0;
    return PROBE_DEPTHS[this.probes++ % PROBE_DEPTHS.length];
  }

  /**
   * Calls `wake` when the estimate falls by RETIME_DROP or more (`probe`: whenever it falls);
   * returns the function that stops it.
   */
  onDrop(wake: () => void, probe: boolean): () => void {
    const set = probe ? this.waitingProbes : this.droppers;
    set.add(wake);
    return () => set.delete(wake);
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
  private readonly p95: number | undefined;
  /** 0, or how much earlier than expected this task's first poll asks (a probe). */
  private readonly depth: number;
  /** Nothing was known when the task started: its first answer is the first estimate. */
  private readonly blind: boolean;
  private pendingPolls = 0;
  /** Pending answers at or after the expected time (a probe's early one does not count). */
  private latePending = 0;
  private lastPendingAt: number | undefined;

  constructor(
    private readonly settings: PollSettings,
    private readonly submittedAt: number | undefined,
    callbacks: boolean,
    private readonly book: LatencyBook | undefined,
    private readonly latency: ModelLatency | undefined,
  ) {
    this.armed = callbacks && (book?.callbacksTrusted() ?? true);
    this.p95 = latency?.p95();
    this.blind = latency?.expected() === undefined;
    this.depth = !this.armed && submittedAt !== undefined && latency ? latency.nextDepth() : 0;
  }

  /**
   * While the first poll's time may still move earlier (polling, before the first status
   * request): `wake` is called when the estimate falls a lot. Returns the function that stops it.
   */
  onRetime(wake: () => void): (() => void) | undefined {
    if (this.armed || this.pendingPolls > 0 || this.submittedAt === undefined || !this.latency) return undefined;
    return this.latency.onDrop(wake, this.depth > 0);
  }

  /**
   * The first status request. A task without a known submit time (a resumed wait) is asked about
   * at once; a fresh one never right after its submit, when it is always still pending. Read
   * again when the estimate falls (re-timing).
   */
  first(now: number): number {
    const t0 = this.submittedAt;
    if (t0 === undefined) return now;
    const expected = this.latency?.expected();
    let at: number;
    if (this.armed) at = t0 + this.overdueAfter();
    else if (expected === undefined) at = t0 + this.settings.intervalMs;
    else at = t0 + expected * (this.depth > 0 ? 1 - this.depth : 1 + AFTER_EXPECTED);
    return Math.max(now, at);
  }

  /** After a pending answer that asked at `askedAt`. */
  afterPending(now: number, askedAt: number): number {
    this.lastPendingAt = askedAt;
    const probeAnswer = this.pendingPolls++ === 0 && this.depth > 0;
    const { intervalMs, maxIntervalMs, backoff } = this.settings;
    if (this.armed) {
      const base = this.overdueAfter();
      return now + Math.min(base * 2 ** (this.pendingPolls - 1), Math.max(MAX_SAFETY_GAP_MS, base));
    }
    const expected = this.latency?.expected();
    if (expected !== undefined) {
      // A probe asked early and the task is not done: ask again when a regular task would.
      if (probeAnswer) return Math.max(now, this.submittedAt! + expected * (1 + AFTER_EXPECTED));
      // Doubling: a task much later than usual costs a few polls, not one per tail gap.
      const gap = Math.max(MIN_GAP_MS, expected * TAIL) * 2 ** this.latePending++;
      return now + Math.min(gap, maxIntervalMs);
    }
    this.latePending++;
    return now + jittered(Math.min(intervalMs * backoff ** (this.pendingPolls - 1), maxIntervalMs), this.settings.jitter);
  }

  /** Time from submit after which a task whose callback has not come is asked about. */
  private overdueAfter(): number {
    if (this.p95 === undefined) return 4 * this.settings.intervalMs;
    return Math.max(2 * this.p95, this.p95 + OVERDUE_MARGIN_MS);
  }

  /** After a callback said "look now" and the provider still said pending: a short gap, then again. */
  afterNudgedPending(now: number): number {
    const expected = this.latency?.expected();
    const gap = expected !== undefined ? Math.max(MIN_GAP_MS, expected * TAIL) : this.settings.intervalMs;
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
    if (this.armed) {
      // A safety poll found it done: its callback has not come (yet). Its latency is an upper
      // bound, which only makes the next safety polls later.
      this.book?.callbackMissed();
      if (this.lastPendingAt === undefined) return this.latency.record(how.at - t0);
      return this.latency.record((this.lastPendingAt + how.at) / 2 - t0);
    }
    // Pending at (or after) the expected time: the latency lies between the last two polls.
    if (this.latePending > 0) return this.latency.pendingAtExpected(how.at - t0);
    // Done at the first poll of a probe, or of a task started before anything was known: an
    // upper bound below the estimate, which caps it. Done at the expected time: nothing new.
    if (this.pendingPolls === 0 && (this.depth > 0 || this.blind)) this.latency.doneEarly(how.at - t0);
  }
}

export function jittered(ms: number, jitter: number): number {
  const j = Math.min(Math.max(jitter, 0), 1);
  return Math.max(0, ms * (1 - j + Math.random() * 2 * j));
}
