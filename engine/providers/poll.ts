/**
 * The one poller shared by every adapter. Polls are timed by `PollSchedule` from the provider's
 * observed latency (first poll just after the expected finish; none at all while a callback is
 * expected and the task is not overdue), with Retry-After, bounded retries of transient poll
 * failures, a grace period for tasks the provider does not know yet, an overall deadline per task
 * (stuck "pending" included) and abort. Each adapter supplies `check` (one status request mapped
 * to a step). Callbacks feed the same loop through `pushed`, so a task settles exactly once.
 */
import { EngineError, isAbortError, toEngineError } from '../core/errors';
import { whenAborted } from './abort-hub';
import { PollSchedule, type LatencyBook, type Settled } from './poll-schedule';

export interface PollSettings {
  /** First wait between polls. */
  intervalMs: number;
  /** Longest wait between polls. */
  maxIntervalMs: number;
  /** Factor applied to the wait after each pending poll. */
  backoff: number;
  /** 0..1: each wait is randomised by ± this fraction. */
  jitter: number;
  /** Overall limit per task, from the start of `wait`. */
  timeoutMs: number;
  /** Transient poll failures (5xx, network) in a row tolerated before giving up; 429s only slow polling down. */
  maxErrors: number;
  /** Timeout of one status request. */
  requestTimeoutMs: number;
  /** Upper bound on a Retry-After we honour (the deadline still applies). */
  maxRetryAfterMs: number;
  /**
   * A task the provider answers "not found" for within this long after its submit is taken as
   * not visible yet (replicas catch up) and asked again; after it, it is reported lost (resumable).
   */
  notFoundGraceMs: number;
}

/**
 * BFL suggests polling every 0.5–2 s. A long cap (5 s) noticed a 3–10 s task's end ~30% late
 * on average (bench/README.md), holding a lane slot that long for nothing; 2 s keeps that under
 * ~10% for BFL's typical 10–20 s tasks while staying far below its 1,200-request rate limit.
 */
export const DEFAULT_POLL_SETTINGS: PollSettings = {
  intervalMs: 500,
  maxIntervalMs: 2_000,
  backoff: 1.3,
  jitter: 0.2,
  timeoutMs: 10 * 60_000,
  maxErrors: 8,
  requestTimeoutMs: 30_000,
  maxRetryAfterMs: 60_000,
  notFoundGraceMs: 30_000,
};

export function pollSettings(overrides?: Partial<PollSettings>): PollSettings {
  const s = { ...DEFAULT_POLL_SETTINGS };
  for (const [k, v] of Object.entries(overrides ?? {})) if (v !== undefined) (s as Record<string, number>)[k] = v;
  return s;
}

/** What one status check (or one callback) says about a task. */
export type PollStep<T> =
  | { state: 'pending'; status: string; progress?: number }
  | { state: 'done'; value: T }
  | { state: 'failed'; error: EngineError };

/** A source of steps pushed from outside the loop (verified callbacks, or "poll now" nudges). */
export interface PushedSteps<T> {
  next(): Promise<PollStep<T>>;
  close(): void;
}

export interface PollTaskOptions<T> {
  provider: string;
  /** Human provider name for messages. */
  title: string;
  taskId: string;
  check(signal: AbortSignal): Promise<PollStep<T>>;
  signal: AbortSignal;
  settings: PollSettings;
  /** Overrides settings.timeoutMs. */
  timeoutMs?: number;
  onProgress?: (fraction: number | undefined, status: string) => void;
  /** Terminal pushed steps settle the task; pending ones trigger a poll at once. */
  pushed?: PushedSteps<T>;
  /** When the task was submitted (epoch ms): polls are timed from it. Unknown: the first poll is at once. */
  submittedAt?: number;
  /** The provider's recent latencies; `model` picks the model's record. */
  latency?: { book: LatencyBook; model: string };
}

const TRANSIENT = new Set(['rate_limited', 'provider_failed', 'network', 'timeout']);

/** True for poll failures worth another try (the poll itself costs nothing). */
export function isTransientPollError(e: EngineError): boolean {
  return TRANSIENT.has(e.code) && e.details.retryable === true;
}

/** Polls until the task is done, failed, timed out or aborted. Resolves or rejects exactly once. */
export async function pollTask<T>(opts: PollTaskOptions<T>): Promise<T> {
  const { settings, taskId } = opts;
  const timeoutMs = opts.timeoutMs ?? settings.timeoutMs;
  const started = Date.now();
  const deadline = started + timeoutMs;
  /** The status request in flight, cut off if the task settles (or the run stops) meanwhile. */
  let inFlight: AbortController | undefined;
  const book = opts.latency?.book;
  const schedule = new PollSchedule(settings, opts.submittedAt, opts.pushed !== undefined, book, book?.model(opts.latency!.model));
  const graceUntil = (opts.submittedAt ?? started) + settings.notFoundGraceMs;
  let errors = 0;
  let lastStatus = 'submitted';
  let seen = false;
  let nudgedAt: number | undefined;
  let pushed: Promise<PushedOutcome<T>> | undefined = opts.pushed ? nextPushed(opts.pushed) : undefined;

  const timeoutError = () =>
    new EngineError(
      'timeout',
      `${opts.title}: task ${taskId} did not finish within ${formatDuration(timeoutMs)} (last status: ${lastStatus}); it may still complete at the provider, look it up by task id ${taskId}`,
      { provider: opts.provider, taskId, retryable: false, lastStatus },
    );
  const settle = (step: PollStep<T>, how: Settled): T => {
    if (step.state === 'done') {
      schedule.settled(how);
      return step.value;
    }
    if (step.state === 'failed') throw withTask(step.error, opts.provider, taskId);
    throw new EngineError('internal', 'settle called on a pending step');
  };
  /** Takes the next pushed step; a terminal one settles, a pending one asks for a poll now. */
  const takePushed = (out: PushedOutcome<T>): PollStep<T> | undefined => {
    pushed = opts.pushed ? nextPushed(opts.pushed) : undefined;
    if (out.step.state !== 'pending') return out.step;
    nudgedAt ??= Date.now();
    return undefined;
  };

  try {
    let nextAt = schedule.first(Date.now());
    // Nothing is asked yet; say so, so a waiting task shows a status (and can be cancelled from it).
    if (nextAt > Date.now()) opts.onProgress?.(undefined, 'waiting for the provider');
    for (;;) {
      if (opts.signal.aborted) throw abortedError(opts.provider, taskId);
      if (Date.now() >= deadline) throw timeoutError();

      if (nudgedAt === undefined && nextAt > Date.now()) {
        const slept = await waitFor(nextAt, deadline, pushed, opts.signal, undefined, schedule);
        if (slept.kind === 'aborted') throw abortedError(opts.provider, taskId);
        if (slept.kind === 'deadline') throw timeoutError();
        if (slept.kind === 'retime') {
          // The estimate fell a lot (a probe found a task done early): ask sooner.
          nextAt = schedule.first(Date.now());
          continue;
        }
        if (slept.kind === 'pushed') {
          const step = takePushed(slept.value);
          if (step) return settle(step, { by: 'callback' });
        }
      }

      const askedAt = Date.now();
      const request = (inFlight = new AbortController());
      const checking = runCheck(opts, request, deadline).finally(() => {
        if (inFlight === request) inFlight = undefined;
      });
      let race = await waitFor(Infinity, deadline, pushed, opts.signal, checking);
      if (race.kind === 'pushed') {
        const step = takePushed(race.value);
        if (step) return settle(step, { by: 'callback' });
        // A nudge while a status request is in flight: that request is the poll it asked for.
        race = await waitFor(Infinity, deadline, undefined, opts.signal, checking);
      }
      if (race.kind === 'aborted') throw abortedError(opts.provider, taskId);
      if (race.kind === 'deadline') throw timeoutError();
      if (race.kind !== 'checked') throw new EngineError('internal', 'poll race ended without an answer');
      // This answer is the poll every nudge so far asked for.
      const nudged = nudgedAt;
      nudgedAt = undefined;

      const checked = race.value;
      const now = Date.now();
      if (isCheckError(checked) || (checked.state === 'failed' && checked.error.code === 'task_not_found')) {
        const err = isCheckError(checked) ? checked.error : (checked as { error: EngineError }).error;
        if (err.code === 'aborted' || opts.signal.aborted) throw abortedError(opts.provider, taskId);
        if (err.code === 'task_not_found') {
          if (seen) throw withTask(err, opts.provider, taskId);
          if (now >= graceUntil) throw notFoundAfterGrace(err, opts.provider, taskId, settings.notFoundGraceMs);
          lastStatus = 'not visible at the provider yet';
          nextAt = schedule.afterError(now, ++errors, undefined);
          continue;
        }
        // A 429 asks us to slow down: it is bounded by the deadline, not by the error budget.
        const counts = err.code !== 'rate_limited';
        if (!isTransientPollError(err) || (counts && ++errors > settings.maxErrors)) throw withTask(err, opts.provider, taskId);
        lastStatus = `retrying after ${err.code}`;
        opts.onProgress?.(undefined, lastStatus);
        const ra = err.details.retryAfterSec;
        nextAt = schedule.afterError(now, Math.max(errors, 1), typeof ra === 'number' ? Math.min(ra * 1000, settings.maxRetryAfterMs) : undefined);
        continue;
      }
      errors = 0;
      seen = true;
      if (checked.state !== 'pending') return settle(checked, nudged !== undefined ? { by: 'nudged-poll', nudgedAt: nudged } : { by: 'poll', at: askedAt });
      lastStatus = checked.status;
      opts.onProgress?.(checked.progress, checked.status);
      nextAt = nudged !== undefined ? schedule.afterNudgedPending(now) : schedule.afterPending(now, askedAt);
    }
  } finally {
    // Ends a status request still in flight (settled by a callback, or the run stopped); a
    // shared reason, because abort() without one builds a DOMException with a stack trace. Only
    // then: aborting dispatches an event, which costs more than the whole rest of a settled wait.
    inFlight?.abort(opts.signal.aborted ? CANCELLED : SETTLED);
    opts.pushed?.close();
  }
}

function notFoundAfterGrace(e: EngineError, provider: string, taskId: string, graceMs: number): EngineError {
  return new EngineError(
    'task_not_found',
    `${e.message}; still unknown ${formatDuration(graceMs)} after its submit, so it is reported lost (it may still appear: resuming the run asks again)`,
    { ...e.details, provider, taskId, retryable: false, resumable: true },
    { cause: e.cause ?? e },
  );
}

const SETTLED = Object.freeze(new Error('the task settled'));
const CANCELLED = Object.freeze(new Error('the run was cancelled'));

interface CheckError {
  __checkError: true;
  error: EngineError;
}
interface PushedOutcome<T> {
  step: PollStep<T>;
}

function isCheckError(v: unknown): v is CheckError {
  return typeof v === 'object' && v !== null && (v as CheckError).__checkError === true;
}

/** One status request; a stop of the run cuts it off. */
async function runCheck<T>(opts: PollTaskOptions<T>, request: AbortController, deadline: number): Promise<PollStep<T> | CheckError> {
  const unlink = opts.signal.aborted ? (request.abort(CANCELLED), undefined) : whenAborted(opts.signal, () => request.abort(CANCELLED));
  try {
    return await opts.check(request.signal);
  } catch (e) {
    if (isAbortError(e) && !opts.signal.aborted && Date.now() < deadline) {
      return { __checkError: true, error: new EngineError('network', 'status request aborted', { retryable: true }) };
    }
    return { __checkError: true, error: toEngineError(e, 'provider_failed', { provider: opts.provider, taskId: opts.taskId }) };
  } finally {
    unlink?.();
  }
}

function nextPushed<T>(src: PushedSteps<T>): Promise<PushedOutcome<T>> {
  return src.next().then((step) => ({ step }));
}

type WaitResult<T> =
  | { kind: 'time' }
  | { kind: 'retime' }
  | { kind: 'deadline' }
  | { kind: 'aborted' }
  | { kind: 'pushed'; value: PushedOutcome<T> }
  | { kind: 'checked'; value: PollStep<T> | CheckError };

/**
 * Waits until `at`, a pushed step, a status answer, the deadline, the run's abort or (before a
 * first poll) a fall of the latency estimate, whichever is first, with one timer and one abort
 * waiter, and never leaves either behind.
 */
function waitFor<T>(
  at: number,
  deadline: number,
  pushed: Promise<PushedOutcome<T>> | undefined,
  signal: AbortSignal,
  checking?: Promise<PollStep<T> | CheckError>,
  schedule?: PollSchedule,
): Promise<WaitResult<T>> {
  return new Promise((resolve) => {
    let done = false;
    let stopRetime: (() => void) | undefined;
    let stopAbort: (() => void) | undefined;
    const finish = (r: WaitResult<T>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stopAbort?.();
      stopRetime?.();
      resolve(r);
    };
    const until = Math.min(at, deadline);
    const timer = setTimeout(() => finish(Date.now() >= deadline || until === deadline ? { kind: 'deadline' } : { kind: 'time' }), Math.max(0, until - Date.now()));
    if (signal.aborted) return finish({ kind: 'aborted' });
    stopAbort = whenAborted(signal, () => finish({ kind: 'aborted' }));
    stopRetime = schedule?.onRetime(() => finish({ kind: 'retime' }));
    checking?.then((value) => finish({ kind: 'checked', value }));
    pushed?.then(
      (value) => finish({ kind: 'pushed', value }),
      () => undefined,
    );
  });
}

function withTask(e: EngineError, provider: string, taskId: string): EngineError {
  if (e.details.taskId && e.details.provider) return e;
  return new EngineError(e.code, e.message, { provider, taskId, ...e.details }, { cause: e.cause });
}

function abortedError(provider: string, taskId: string): EngineError {
  return new EngineError('aborted', `the run was cancelled while waiting for task ${taskId}`, { provider, taskId, retryable: false });
}

function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${Math.round(ms / 100) / 10} s`;
  return `${ms} ms`;
}
