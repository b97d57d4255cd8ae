import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, getJson, imageInfo, manualClock, meanColor, pollUntil, postJson, solidPng, startReceiver } from './helpers';

const AUTH = { authorization: 'Bearer novita-key' };
let em: Emulator;

beforeAll(async () => {
  em = await startEmulator({ latencyMs: 20 });
});
afterAll(() => em.close());
afterEach(() => {
  em.setFaults({});
  em.setLatency(20);
  em.reset();
});

const create = (body: unknown, headers: Record<string, string> = AUTH, model = 'flux-2-flex', target: Emulator = em) =>
  postJson(`${target.baseUrl}/v3/async/${model}`, body, headers);
const result = (id: string) => getJson(`${em.baseUrl}/v3/async/task-result?task_id=${id}`, AUTH);
const untilDone = (id: string) =>
  pollUntil(
    () => result(id),
    (r) => ['TASK_STATUS_SUCCEED', 'TASK_STATUS_FAILED'].includes(r.json?.task?.status),
  );

describe('novita.ai async FLUX.2', () => {
  it('walks TASK_STATUS_QUEUED → PROCESSING → SUCCEED as the latency passes', async () => {
    const clock = manualClock();
    const timed = await startEmulator({ latencyMs: 1000, clock: clock.now });
    try {
      const r = await create({ prompt: 'x', size: '256*256' }, AUTH, 'flux-2-flex', timed);
      const status = async () => (await getJson(`${timed.baseUrl}/v3/async/task-result?task_id=${r.json.task_id}`, AUTH)).json.task;
      expect(await status()).toMatchObject({ status: 'TASK_STATUS_QUEUED', progress_percent: 0, eta: 1 });
      clock.advance(500);
      expect(await status()).toMatchObject({ status: 'TASK_STATUS_PROCESSING', progress_percent: 50 });
      clock.advance(500);
      const done = await pollUntil(status, (t) => t.status !== 'TASK_STATUS_PROCESSING');
      expect(done).toMatchObject({ status: 'TASK_STATUS_SUCCEED', progress_percent: 100 });
    } finally {
      await timed.close();
    }
  });

  it('answers a submit with a task_id and finishes with an image of the requested W*H size', async () => {
    const r = await create({ prompt: 'a harbour at night', size: '512*384', seed: 5 });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ task_id: expect.any(String) });
    const done = await untilDone(r.json.task_id);
    expect(done.json).toMatchObject({
      extra: { seed: '5', enable_nsfw_detection: false },
      task: { task_id: r.json.task_id, status: 'TASK_STATUS_SUCCEED', reason: '', task_type: 'TXT_TO_IMG' },
      images: [{ image_url: expect.stringMatching(/\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=\d{8}T\d{6}Z&X-Amz-Expires=3600&/), image_url_ttl: 3600, image_type: 'jpeg' }],
      videos: [],
      audios: [],
    });
    const img = await download(done.json.images[0].image_url);
    expect(await imageInfo(img.bytes)).toEqual({ width: 512, height: 384, format: 'jpeg' });
  });

  it('renders png via extra.response_image_type and defaults to 1024*1024', async () => {
    const r = await create({ prompt: 'png please', extra: { response_image_type: 'png' } }, AUTH, 'flux-2-pro');
    const done = await untilDone(r.json.task_id);
    expect(done.json.images[0].image_type).toBe('png');
    expect(await imageInfo((await download(done.json.images[0].image_url)).bytes)).toEqual({ width: 1024, height: 1024, format: 'png' });
  });

  it('edits from the first of images (URL or base64) and keeps the input size when size is absent', async () => {
    const red = await solidPng(300, 400, [230, 20, 20]);
    const r = await create({ prompt: 'add snow', images: [red.toString('base64')] });
    const done = await untilDone(r.json.task_id);
    expect(done.json.task.task_type).toBe('IMG_TO_IMG');
    const img = await download(done.json.images[0].image_url);
    expect(await imageInfo(img.bytes)).toMatchObject({ width: 300, height: 400 });
    const [r0, , b0] = await meanColor(img.bytes);
    expect(r0).toBeGreaterThan(b0 + 40);
    const again = await create({ prompt: 'again', images: [done.json.images[0].image_url], size: '256*256' });
    expect((await untilDone(again.json.task_id)).json.task.status).toBe('TASK_STATUS_SUCCEED');
  });

  it('gives the same bytes for the same prompt and seed, and different ones for another seed', async () => {
    const bytes = async (seed: number) => {
      const r = await create({ prompt: 'same', seed, size: '256*256' });
      return (await download((await untilDone(r.json.task_id)).json.images[0].image_url)).bytes;
    };
    const a = await bytes(1);
    expect(a.equals(await bytes(1))).toBe(true);
    expect(a.equals(await bytes(2))).toBe(false);
  });
});

describe('novita.ai errors', () => {
  it('answers a missing key with 400 MISSING_API_KEY and a wrong one with 403 INVALID_API_KEY', async () => {
    const missing = await create({ prompt: 'x' }, {});
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({ code: 400, reason: 'MISSING_API_KEY', message: expect.any(String), metadata: {} });
    const strict = await startEmulator({ validKeys: ['good'] });
    try {
      const wrong = await create({ prompt: 'x' }, { authorization: 'Bearer bad' }, 'flux-2-flex', strict);
      expect(wrong.status).toBe(403);
      expect(wrong.json.reason).toBe('INVALID_API_KEY');
    } finally {
      await strict.close();
    }
  });

  it.each([
    ['a missing prompt', { size: '512*512' }],
    ['a side below 256', { prompt: 'x', size: '128*512' }],
    ['a side above 1536', { prompt: 'x', size: '2048*1024' }],
    ['a malformed size', { prompt: 'x', size: '512x512' }],
    ['more than 3 images', { prompt: 'x', images: ['a', 'b', 'c', 'd'] }],
    ['a seed below -1', { prompt: 'x', seed: -2 }],
    ['a seed above 2147483647', { prompt: 'x', seed: 2147483648 }],
  ])('answers 400 INVALID_REQUEST_BODY for %s', async (_name, body) => {
    const r = await create(body);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 400, reason: 'INVALID_REQUEST_BODY', message: expect.any(String), metadata: {} });
  });

  it('answers an undecodable image with 400 INVALID_IMAGE_FORMAT', async () => {
    const r = await create({ prompt: 'x', images: ['bm90IGFuIGltYWdl'] });
    expect(r.json.reason).toBe('INVALID_IMAGE_FORMAT');
  });

  it('answers insufficient balance with HTTP 400 BILLING_BALANCE_NOT_ENOUGH, not 402', async () => {
    em.setFaults({ submit: { insufficientCredits: 1 } });
    const r = await create({ prompt: 'x', size: '256*256' });
    expect(r.status).toBe(400);
    expect(r.json.reason).toBe('BILLING_BALANCE_NOT_ENOUGH');
  });

  it('refuses a flagged prompt at submit with ILLEGAL_PROMPT and creates no task', async () => {
    const r = await create({ prompt: 'x [moderate-request]', size: '256*256' });
    expect(r.status).toBe(400);
    expect(r.json.reason).toBe('ILLEGAL_PROMPT');
    expect(em.stats().submissions.novita).toBe(0);
  });

  it('fails moderated output and failed generations with TASK_STATUS_FAILED and a reason', async () => {
    for (const prompt of ['x [moderate-content]', 'x [fail]']) {
      const r = await create({ prompt, size: '256*256' });
      const done = await untilDone(r.json.task_id);
      expect(done.json.task).toMatchObject({ status: 'TASK_STATUS_FAILED', reason: expect.stringMatching(/.+/) });
      expect(done.json.images).toEqual([]);
    }
  });

  it('answers unknown task ids with 404 TASK_NOT_FOUND and 429 RATE_LIMIT_EXCEEDED at the cap', async () => {
    const unknown = await result('nope');
    expect(unknown.status).toBe(404);
    expect(unknown.json.reason).toBe('TASK_NOT_FOUND');
    em.setFaults({ activeTaskCap: 1 });
    await create({ prompt: 'a [stuck]', size: '256*256' });
    const capped = await create({ prompt: 'b', size: '256*256' });
    expect(capped.status).toBe(429);
    expect(capped.json.reason).toBe('RATE_LIMIT_EXCEEDED');
  });

  it('answers injected submit errors with CREATE_TASK_FAILED and poll errors with GET_RESULT_FAILED', async () => {
    em.setFaults({ submit: { error5xx: 1 }, poll: { error5xx: 1 } });
    const s = await create({ prompt: 'x' });
    expect(s.status).toBe(500);
    expect(s.json.reason).toBe('CREATE_TASK_FAILED');
    const p = await result('any');
    expect(p.json.reason).toBe('GET_RESULT_FAILED');
  });
});

describe('novita.ai result URLs', () => {
  it('presigned S3 URLs that live the documented hour (image_url_ttl 3600), then answer 403 AccessDenied like expired presigned S3', async () => {
    const clock = manualClock();
    const timed = await startEmulator({ latencyMs: 0, clock: clock.now });
    try {
      const r = await create({ prompt: 'x', size: '256*256' }, AUTH, 'flux-2-flex', timed);
      const done = await pollUntil(
        async () => (await getJson(`${timed.baseUrl}/v3/async/task-result?task_id=${r.json.task_id}`, AUTH)).json,
        (j) => j.task.status === 'TASK_STATUS_SUCCEED',
      );
      expect(done.images[0].image_url_ttl).toBe(3600);
      clock.advance(3_600_001);
      const img = await download(done.images[0].image_url);
      expect(img.status).toBe(403);
      expect(img.bytes.toString()).toContain('<Code>AccessDenied</Code>');
    } finally {
      await timed.close();
    }
  });
});

describe('novita.ai webhooks', () => {
  it('POSTs {event_type: ASYNC_TASK_RESULT, payload} to extra.webhook.url', async () => {
    const rx = await startReceiver();
    try {
      const r = await create({ prompt: 'hook', size: '256*256', extra: { webhook: { url: `${rx.url}/novita` } } });
      const [cb] = await rx.waitFor(1);
      expect(cb.path).toBe('/novita');
      expect(cb.json).toMatchObject({
        event_type: 'ASYNC_TASK_RESULT',
        payload: { task: { task_id: r.json.task_id, status: 'TASK_STATUS_SUCCEED' }, images: [{ image_url: expect.any(String), image_url_ttl: '3600' }] },
      });
    } finally {
      await rx.close();
    }
  });
});
