import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, fetchError, getJson, pollUntil, postJson } from './helpers';

const KEY = { 'x-key': 'k' };
const BODY = { prompt: 'a lighthouse', width: 64, height: 64, seed: 1 };
let em: Emulator;

beforeAll(async () => {
  em = await startEmulator({ latencyMs: 10 });
});
afterAll(() => em.close());
afterEach(() => {
  em.setFaults({});
  em.reset();
});

const submit = (body: unknown = BODY) => postJson(`${em.baseUrl}/v1/flux-2-pro`, body, KEY);
const submitRaw = (body: unknown = BODY) =>
  fetchError(`${em.baseUrl}/v1/flux-2-pro`, { method: 'POST', headers: { ...KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const ready = async () => {
  const r = await submit();
  return pollUntil(() => getJson(r.json.polling_url, KEY), (p) => p.json.status === 'Ready');
};

describe('submit faults', () => {
  it('answers 429 with Retry-After and creates no task', async () => {
    em.setFaults({ submit: { rate429: 1, retryAfterSec: 7 } });
    const r = await submit();
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('7');
    expect(r.json.detail).toEqual(expect.any(String));
    const s = em.stats();
    expect(s.injected.submit.rate429).toBe(1);
    expect(s.submissions.bfl).toBe(0);
    expect(s.submitRequests.bfl).toBe(1);
  });

  it('answers 5xx with the provider error shape, and 502 with a gateway HTML page', async () => {
    em.setFaults({ submit: { error5xx: 1 } });
    expect(await submit()).toMatchObject({ status: 500, json: { detail: 'Internal Server Error' } });
    em.setFaults({ submit: { error5xx: 1, status5xx: 503 } });
    expect((await submit()).status).toBe(503);
    em.setFaults({ submit: { error5xx: 1, status5xx: 502 } });
    const gateway = await submit();
    expect(gateway.status).toBe(502);
    expect(gateway.headers.get('content-type')).toContain('text/html');
    expect(gateway.json).toContain('502 Bad Gateway');
    expect(em.stats().submissions.bfl).toBe(0);
  });

  it('drops the connection before creating a task with `drop`', async () => {
    em.setFaults({ submit: { drop: 1 } });
    expect(await submitRaw()).toBeInstanceOf(Error);
    expect(em.stats().injected.submit.drop).toBe(1);
    expect(em.stats().submissions.bfl).toBe(0);
    expect(em.tasks()).toHaveLength(0);
  });

  it('creates (and charges) the task and then loses the response with `dropAfterAccept`', async () => {
    em.setFaults({ submit: { dropAfterAccept: 1 } });
    expect(await submitRaw()).toBeInstanceOf(Error);
    const s = em.stats();
    expect(s.injected.submit.dropAfterAccept).toBe(1);
    expect(s.submissions.bfl).toBe(1);
    expect(em.tasks()).toMatchObject([{ provider: 'bfl', prompt: 'a lighthouse', seed: 1 }]);
    const credits = await getJson(`${em.baseUrl}/v1/credits`, KEY);
    expect(credits.json.credits).toBe(1_000_000 - 3);
  });
});

describe('poll faults', () => {
  it('answers polls with 429 and Retry-After, 5xx, or a dropped connection, and counts each', async () => {
    const r = await submit();
    em.setFaults({ poll: { rate429: 1, retryAfterSec: 2 } });
    const limited = await getJson(r.json.polling_url, KEY);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    em.setFaults({ poll: { error5xx: 1 } });
    expect((await getJson(r.json.polling_url, KEY)).status).toBe(500);
    em.setFaults({ poll: { drop: 1 } });
    expect(await fetchError(r.json.polling_url, { headers: KEY })).toBeInstanceOf(Error);
    em.setFaults({});
    expect((await pollUntil(() => getJson(r.json.polling_url, KEY), (p) => p.json.status === 'Ready')).status).toBe(200);
    const s = em.stats();
    expect(s.injected.poll).toMatchObject({ rate429: 1, error5xx: 1, drop: 1 });
    expect(s.polls.bfl).toBeGreaterThanOrEqual(4);
    expect(s.submissions.bfl).toBe(1);
  });

  it('delays polls by delayMs and counts them as slow', async () => {
    const r = await submit();
    em.setFaults({ poll: { delayMs: 30 } });
    expect((await getJson(r.json.polling_url, KEY)).status).toBe(200);
    expect(em.stats().injected.poll.delayed).toBe(1);
  });

  it('applies faults only to the listed providers', async () => {
    em.setFaults({ poll: { error5xx: 1 }, providers: ['kie'] });
    const r = await submit();
    expect((await getJson(r.json.polling_url, KEY)).status).toBe(200);
    const kie = await getJson(`${em.baseUrl}/api/v1/jobs/recordInfo?taskId=x`, { authorization: 'Bearer k' });
    expect(kie.json.code).toBe(500);
  });

  it('applies faults given at start', async () => {
    const faulty = await startEmulator({ faults: { submit: { rate429: 1 } } });
    try {
      expect((await postJson(`${faulty.baseUrl}/v1/flux-2-pro`, BODY, KEY)).status).toBe(429);
    } finally {
      await faulty.close();
    }
  });
});

describe('download faults', () => {
  it('answers a result URL as expired before its TTL with `expired`', async () => {
    const done = await ready();
    em.setFaults({ download: { expired: 1 } });
    const img = await download(done.json.result.sample);
    expect(img.status).toBe(403);
    expect(em.stats().injected.download.expired).toBe(1);
    em.setFaults({});
    expect((await download(done.json.result.sample)).status).toBe(200);
  });

  it('cuts the image body off halfway with `truncate`', async () => {
    const done = await ready();
    em.setFaults({ download: { truncate: 1 } });
    expect(await fetchError(done.json.result.sample)).toBeInstanceOf(Error);
    expect(em.stats().injected.download.truncate).toBe(1);
  });

  it('answers downloads with storage-style 429 and 503 errors', async () => {
    const done = await ready();
    em.setFaults({ download: { rate429: 1 } });
    const slow = await download(done.json.result.sample);
    expect(slow.status).toBe(429);
    expect(slow.bytes.toString()).toContain('SlowDown');
    em.setFaults({ download: { error5xx: 1, status5xx: 503 } });
    expect((await download(done.json.result.sample)).status).toBe(503);
    em.setFaults({ download: { drop: 1 } });
    expect(await fetchError(done.json.result.sample)).toBeInstanceOf(Error);
  });
});

describe('reproducible fault schedules', () => {
  async function schedule(seed: number, count: number): Promise<number[]> {
    const e = await startEmulator({ seed, faults: { poll: { rate429: 0.5 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < count; i++) statuses.push((await getJson(`${e.pollBaseUrl}/v1/get_result?id=x`, KEY)).status);
      return statuses;
    } finally {
      await e.close();
    }
  }

  it('injects the same faults in the same order for the same seed', async () => {
    const a = await schedule(42, 24);
    expect(await schedule(42, 24)).toEqual(a);
    expect(a).toContain(429);
    expect(a).toContain(200);
  });

  it('injects a different schedule for another seed', async () => {
    expect(await schedule(1, 24)).not.toEqual(await schedule(2, 24));
  });

  it('replays the schedule after reset()', async () => {
    em.setFaults({ poll: { rate429: 0.5 } });
    const run = async () => {
      const out: number[] = [];
      for (let i = 0; i < 16; i++) out.push((await getJson(`${em.pollBaseUrl}/v1/get_result?id=x`, KEY)).status);
      return out;
    };
    em.reset();
    const first = await run();
    em.reset();
    expect(await run()).toEqual(first);
  });
});

describe('submission counting', () => {
  it('reports a request that created two tasks, whatever the key order of its JSON', async () => {
    await submit({ prompt: 'same', width: 64, height: 64, seed: 3 });
    await submit({ seed: 3, height: 64, width: 64, prompt: 'same' });
    await submit({ prompt: 'same', width: 64, height: 64, seed: 4 });
    const dups = em.duplicateSubmissions();
    expect(dups).toEqual([{ hash: expect.stringMatching(/^[0-9a-f]{64}$/), provider: 'bfl', path: '/v1/flux-2-pro', count: 2 }]);
    expect(Object.values(em.stats().requestCounts).sort()).toEqual([1, 2]);
  });

  it('does not count refused submits as submissions', async () => {
    em.setFaults({ submit: { rate429: 1 } });
    await submit();
    em.setFaults({});
    await submit();
    expect(em.duplicateSubmissions()).toEqual([]);
    expect(em.stats().submissions.bfl).toBe(1);
  });

  it('keeps peak active tasks at the cap under concurrent submits', async () => {
    const capped = await startEmulator({ latencyMs: 60_000, activeTaskCap: 5 });
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => postJson(`${capped.baseUrl}/v1/flux-2-pro`, { ...BODY, seed: i }, KEY)),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(5);
      expect(results.filter((r) => r.status === 429)).toHaveLength(7);
      expect(capped.stats().peakActive.bfl.k).toBe(5);
      expect(capped.stats().capRejections.bfl).toBe(7);
    } finally {
      await capped.close();
    }
  });

  it('forgets tasks and counters on reset()', async () => {
    const r = await submit();
    em.reset();
    expect(em.stats().submissions.bfl).toBe(0);
    expect(em.tasks()).toEqual([]);
    expect((await getJson(r.json.polling_url, KEY)).json.status).toBe('Task not found');
  });
});

describe('task lifetime', () => {
  it('answers "Task not found" once a task is older than taskTtlMs', async () => {
    let now = 1_000;
    const e = await startEmulator({ latencyMs: 0, taskTtlMs: 5_000, clock: () => now });
    try {
      const r = await postJson(`${e.baseUrl}/v1/flux-2-pro`, BODY, KEY);
      expect((await getJson(r.json.polling_url, KEY)).json.status).not.toBe('Task not found');
      now += 5_001;
      expect((await getJson(r.json.polling_url, KEY)).json.status).toBe('Task not found');
    } finally {
      await e.close();
    }
  });
});
