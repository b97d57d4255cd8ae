import { describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import { pollSettings, pollTask, type PollStep, type PushedSteps } from '../../engine/providers/poll';
import { caught } from './helpers';

const fast = pollSettings({ intervalMs: 1, maxIntervalMs: 2, jitter: 0, maxErrors: 3, timeoutMs: 5_000, maxRetryAfterMs: 5 });

function scripted<T>(steps: (PollStep<T> | EngineError)[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    check: async (): Promise<PollStep<T>> => {
      const s = steps[Math.min(calls++, steps.length - 1)];
      if (s instanceof EngineError) throw s;
      return s;
    },
  };
}

const pending: PollStep<string> = { state: 'pending', status: 'Pending' };
const done: PollStep<string> = { state: 'done', value: 'image' };
const transient = (code: 'rate_limited' | 'provider_failed' | 'network') => new EngineError(code, code, { retryable: true, retryAfterSec: 0 });

function pushedSource<T>(): PushedSteps<T> & { push(step: PollStep<T>): void } {
  const queue: PollStep<T>[] = [];
  let waiter: ((s: PollStep<T>) => void) | undefined;
  return {
    push(step) {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w(step);
      } else queue.push(step);
    },
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r))),
    close: () => undefined,
  };
}

const base = { provider: 'test', title: 'Test', taskId: 'task-42', settings: fast };

describe('pollTask', () => {
  it('polls until the task is done and reports progress on the way', async () => {
    const s = scripted<string>([pending, { state: 'pending', status: 'Pending', progress: 0.5 }, done]);
    const seen: (number | undefined)[] = [];
    const value = await pollTask({ ...base, check: s.check, signal: new AbortController().signal, onProgress: (f) => seen.push(f) });
    expect(value).toBe('image');
    expect(seen).toEqual([undefined, 0.5]);
  });

  it.each(['rate_limited', 'provider_failed', 'network'] as const)('retries a transient %s on a poll', async (code) => {
    const s = scripted<string>([transient(code), pending, transient(code), done]);
    await expect(pollTask({ ...base, check: s.check, signal: new AbortController().signal })).resolves.toBe('image');
    expect(s.calls).toBe(4);
  });

  it('gives up after too many transient failures in a row, naming the task', async () => {
    const s = scripted<string>([transient('provider_failed')]);
    const e = (await caught(pollTask({ ...base, check: s.check, signal: new AbortController().signal }))) as EngineError;
    expect(e.code).toBe('provider_failed');
    expect(e.details.taskId).toBe('task-42');
    expect(s.calls).toBe(fast.maxErrors + 1);
  });

  it('does not retry a terminal failure', async () => {
    const s = scripted<string>([{ state: 'failed', error: new EngineError('moderated', 'flagged') }]);
    const e = (await caught(pollTask({ ...base, check: s.check, signal: new AbortController().signal }))) as EngineError;
    expect(e.code).toBe('moderated');
    expect(s.calls).toBe(1);
  });

  it('times out a task stuck pending with its id in the message', async () => {
    const s = scripted<string>([pending]);
    const e = (await caught(pollTask({ ...base, check: s.check, signal: new AbortController().signal, timeoutMs: 30 }))) as EngineError;
    expect(e.code).toBe('timeout');
    expect(e.message).toContain('task-42');
    expect(e.details.taskId).toBe('task-42');
  });

  it('times out even when a status request never answers', async () => {
    const e = (await caught(
      pollTask({ ...base, check: () => new Promise<PollStep<string>>(() => undefined), signal: new AbortController().signal, timeoutMs: 30 }),
    )) as EngineError;
    expect(e.code).toBe('timeout');
  });

  it('stops at once when aborted, even during a long wait', async () => {
    const ac = new AbortController();
    const s = scripted<string>([pending]);
    const slow = pollSettings({ ...fast, intervalMs: 3_600_000, maxIntervalMs: 3_600_000, timeoutMs: 7_200_000 });
    const p = pollTask({ ...base, settings: slow, check: s.check, signal: ac.signal, onProgress: () => ac.abort() });
    const e = (await caught(p)) as EngineError;
    expect(e.code).toBe('aborted');
    expect(s.calls).toBe(1);
  });

  it('settles from a pushed terminal step without waiting for the next poll', async () => {
    const src = pushedSource<string>();
    const s = scripted<string>([pending]);
    const slow = pollSettings({ ...fast, intervalMs: 3_600_000, maxIntervalMs: 3_600_000, timeoutMs: 7_200_000 });
    const p = pollTask({ ...base, settings: slow, check: s.check, signal: new AbortController().signal, pushed: src, onProgress: () => src.push({ state: 'done', value: 'from callback' }) });
    await expect(p).resolves.toBe('from callback');
    expect(s.calls).toBe(1);
  });

  it('polls at once when nudged by an unverified callback', async () => {
    const src = pushedSource<string>();
    const s = scripted<string>([pending, done]);
    const slow = pollSettings({ ...fast, intervalMs: 3_600_000, maxIntervalMs: 3_600_000, timeoutMs: 7_200_000 });
    const p = pollTask({ ...base, settings: slow, check: s.check, signal: new AbortController().signal, pushed: src, onProgress: () => src.push({ state: 'pending', status: 'callback received' }) });
    await expect(p).resolves.toBe('image');
    expect(s.calls).toBe(2);
  });

  it('settles once when a callback and a poll both report the result', async () => {
    const src = pushedSource<string>();
    src.push({ state: 'done', value: 'from callback' });
    src.push({ state: 'done', value: 'duplicate callback' });
    const s = scripted<string>([done]);
    const value = await pollTask({ ...base, check: s.check, signal: new AbortController().signal, pushed: src });
    expect(['image', 'from callback']).toContain(value);
  });
});
