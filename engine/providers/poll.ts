/**
 * The one poller shared by every adapter: exponential backoff with jitter, Retry-After,
 * bounded retries of transient poll failures, an overall deadline per task (stuck "pending"
 * included) and abort. Each adapter supplies `check` (one status request mapped to a step).
 * Callbacks feed the same loop through `pushed`, so a task settles exactly once.
 */
import { EngineError, isAbortError, toEngineError } from '../core/errors';

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
  const deadline = Date.now() + timeoutMs;
  const local = new AbortController();
  const stop = () => local.abort();
  opts.signal.addEventListener('abort', stop, { once: true });
  let interval = settings.intervalMs;
  let errors = 0;
  let lastStatus = 'submitted';
  let pushed: Promise<PushedOutcome<T>> | undefined = opts.pushed ? nextPushed(opts.pushed) : undefined;

  const timeoutError = () =>
    new EngineError(
      'timeout',
      `${opts.title}: task ${taskId} did not finish within ${formatDuration(timeoutMs)} (last status: ${lastStatus}); it may still complete at the provider, look it up by task id ${taskId}`,
      { provider: opts.provider, taskId, retryable: false, lastStatus },
    );
  const settle = (step: PollStep<T>): T => {
    if (step.state === 'done') return step.value;
    if (step.state === 'failed') throw withTask(step.error, opts.provider, taskId);
    throw new EngineError('internal', 'settle called on a pending step');
  };

  try {
    for (;;) {
      if (opts.signal.aborted) throw abortedError(opts.provider, taskId);
      if (Date.now() >= deadline) throw timeoutError();

      let step: PollStep<T>;
      let waitMs: number | undefined;
      const checking = runCheck(opts, local.signal, deadline);
      let race = await raceAll<PollStep<T> | CheckError | PushedOutcome<T>>([checking, ...(pushed ? [pushed] : [])], deadline, local.signal);
      if (race.kind === 'value' && race.index === 1) {
        const out = race.value as PushedOutcome<T>;
        pushed = opts.pushed ? nextPushed(opts.pushed) : undefined;
        if (out.step.state !== 'pending') return settle(out.step);
        // A nudge while a status request is in flight: that request is the poll it asked for.
        race = await raceAll<PollStep<T> | CheckError>([checking], deadline, local.signal);
      }
      if (race.kind === 'aborted') throw abortedError(opts.provider, taskId);
      if (race.kind === 'deadline') throw timeoutError();
      const checked = race.value as PollStep<T> | CheckError;
      if (isCheckError(checked)) {
        const err = checked.error;
        if (err.code === 'aborted' || opts.signal.aborted) throw abortedError(opts.provider, taskId);
        // A 429 asks us to slow down: it is bounded by the deadline, not by the error budget.
        const counts = err.code !== 'rate_limited';
        if (!isTransientPollError(err) || (counts && ++errors > settings.maxErrors)) throw withTask(err, opts.provider, taskId);
        lastStatus = `retrying after ${err.code}`;
        step = { state: 'pending', status: lastStatus };
        const ra = err.details.retryAfterSec;
        if (typeof ra === 'number') waitMs = Math.min(ra * 1000, settings.maxRetryAfterMs);
      } else {
        step = checked;
        errors = 0;
      }
      if (step.state !== 'pending') return settle(step);
      lastStatus = step.status;
      opts.onProgress?.(step.progress, step.status);

      const sleepMs = Math.max(waitMs ?? 0, jittered(interval, settings.jitter));
      interval = Math.min(interval * settings.backoff, settings.maxIntervalMs);
      const slept = await raceAll<PushedOutcome<T> | undefined>(
        [delay(sleepMs, local.signal), ...(pushed ? [pushed] : [])],
        deadline,
        local.signal,
      );
      if (slept.kind === 'aborted') throw abortedError(opts.provider, taskId);
      if (slept.kind === 'deadline') throw timeoutError();
      if (slept.index === 1) {
        const out = slept.value as PushedOutcome<T>;
        pushed = opts.pushed ? nextPushed(opts.pushed) : undefined;
        if (out.step.state !== 'pending') return settle(out.step);
      }
    }
  } finally {
    local.abort();
    opts.signal.removeEventListener('abort', stop);
    opts.pushed?.close();
  }
}

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

async function runCheck<T>(opts: PollTaskOptions<T>, signal: AbortSignal, deadline: number): Promise<PollStep<T> | CheckError> {
  try {
    return await opts.check(signal);
  } catch (e) {
    if (isAbortError(e) && !opts.signal.aborted && Date.now() < deadline) {
      return { __checkError: true, error: new EngineError('network', 'status request aborted', { retryable: true }) };
    }
    return { __checkError: true, error: toEngineError(e, 'provider_failed', { provider: opts.provider, taskId: opts.taskId }) };
  }
}

function nextPushed<T>(src: PushedSteps<T>): Promise<PushedOutcome<T>> {
  return src.next().then((step) => ({ step }));
}

type RaceResult<T> = { kind: 'value'; index: number; value: T } | { kind: 'deadline' } | { kind: 'aborted' };

/** Waits for the first of `promises`, the deadline or the abort; never leaves a timer behind. */
function raceAll<T>(promises: Promise<T>[], deadline: number, signal: AbortSignal): Promise<RaceResult<T>> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: RaceResult<T>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    const timer = setTimeout(() => finish({ kind: 'deadline' }), Math.max(0, deadline - Date.now()));
    if (signal.aborted) return finish({ kind: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });
    promises.forEach((p, index) =>
      p.then(
        (value) => finish({ kind: 'value', index, value }),
        () => undefined,
      ),
    );
  });
}

function delay(ms: number, signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(undefined);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function jittered(ms: number, jitter: number): number {
  const j = Math.min(Math.max(jitter, 0), 1);
  return Math.max(0, ms * (1 - j + Math.random() * 2 * j));
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
