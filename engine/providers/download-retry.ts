/**
 * Downloading the image of a finished (paid) task: a GET costs nothing, so transient failures
 * (5xx, 429, a dropped connection) are retried with backoff, honouring Retry-After, until the
 * task's deadline or the result URL's expiry (BFL: 10 minutes after completion), whichever comes
 * first. Three quick tries lost paid images under download faults.
 */
import { EngineError, isEngineError } from '../core/errors';

export interface DownloadRetry {
  signal?: AbortSignal;
  /** Epoch ms after which no attempt starts (the task deadline, the URL's expiry). */
  deadline: number;
  /** First backoff; doubles up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After honoured as given (still bounded by the deadline). */
  maxRetryAfterMs: number;
  onRetry?: (attempt: number, waitMs: number, error: EngineError) => void;
}

export async function downloadWithRetry<T>(get: () => Promise<T>, o: DownloadRetry): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await get();
    } catch (e) {
      if (!isEngineError(e) || e.code === 'aborted' || e.details.retryable !== true) throw e;
      const asked = typeof e.details.retryAfterSec === 'number' ? Math.min(e.details.retryAfterSec * 1000, o.maxRetryAfterMs) : undefined;
      const wait = asked ?? Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
      if (Date.now() + wait >= o.deadline) {
        throw new EngineError(e.code, `${e.message}; gave up after ${attempt} download attempt${attempt === 1 ? '' : 's'} (deadline reached)`, { ...e.details, attempts: attempt }, { cause: e });
      }
      o.onRetry?.(attempt, wait, e);
      await sleep(wait, o.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new EngineError('aborted', 'the run was cancelled'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new EngineError('aborted', 'the run was cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
