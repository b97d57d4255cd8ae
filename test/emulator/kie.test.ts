import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, getJson, imageInfo, manualClock, meanColor, pollUntil, postJson, solidPng, startReceiver } from './helpers';

const AUTH = { authorization: 'Bearer kie-key' };
const HMAC_KEY = 'kie-account-hmac';
let em: Emulator;

beforeAll(async () => {
  em = await startEmulator({ latencyMs: 20, kieWebhookHmacKey: HMAC_KEY });
});
afterAll(() => em.close());
afterEach(() => {
  em.setFaults({});
  em.setLatency(20);
  em.reset();
});

const createTask = (body: unknown, headers: Record<string, string> = AUTH, target: Emulator = em) =>
  postJson(`${target.baseUrl}/api/v1/jobs/createTask`, body, headers);
const recordInfo = (taskId: string, target: Emulator = em) => getJson(`${target.baseUrl}/api/v1/jobs/recordInfo?taskId=${taskId}`, AUTH);
const untilDone = (taskId: string, target: Emulator = em) =>
  pollUntil(
    () => recordInfo(taskId, target),
    (r) => ['success', 'fail'].includes(r.json?.data?.state),
  );
const t2i = (prompt = 'a lighthouse at dawn', extra: Record<string, unknown> = {}) => ({
  model: 'flux-2/pro-text-to-image',
  input: { prompt, aspect_ratio: '1:1', resolution: '1K', ...extra },
});

describe('kie.ai createTask and recordInfo', () => {
  it('answers createTask with code 200, msg and a taskId', async () => {
    const r = await createTask(t2i());
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ code: 200, msg: 'success', data: { taskId: expect.stringMatching(/^task_flux-2_\d+$/) } });
  });

  it('walks waiting → queuing → generating → success as the latency passes', async () => {
    const clock = manualClock();
    const timed = await startEmulator({ latencyMs: 1000, clock: clock.now });
    try {
      const r = await createTask(t2i(), AUTH, timed);
      const states: string[] = [];
      for (const step of [0, 200, 300, 499]) {
        clock.advance(step);
        states.push((await recordInfo(r.json.data.taskId, timed)).json.data.state);
      }
      clock.advance(1);
      states.push((await untilDone(r.json.data.taskId, timed)).json.data.state);
      expect(states).toEqual(['waiting', 'queuing', 'generating', 'generating', 'success']);
    } finally {
      await timed.close();
    }
  });

  it('finishes with param and resultJson as JSON strings and a downloadable image', async () => {
    const r = await createTask(t2i('a red fox', { aspect_ratio: '16:9' }));
    const done = await untilDone(r.json.data.taskId);
    expect(done.json).toMatchObject({ code: 200, message: 'success' });
    const data = done.json.data;
    expect(typeof data.param).toBe('string');
    expect(JSON.parse(data.param)).toEqual(t2i('a red fox', { aspect_ratio: '16:9' }));
    expect(typeof data.resultJson).toBe('string');
    const { resultUrls } = JSON.parse(data.resultJson);
    expect(data).toMatchObject({ failCode: '', failMsg: '', consumeCredits: 5, completeTime: expect.any(Number), createTime: expect.any(Number) });
    const img = await download(resultUrls[0]);
    expect(img.status).toBe(200);
    const info = await imageInfo(img.bytes);
    expect(info.format).toBe('png');
    expect(info.width / info.height).toBeCloseTo(16 / 9, 1);
  });

  it('maps resolution 2K to about 4 MP and prices flex higher than pro', async () => {
    const r = await createTask({ model: 'flux-2/flex-text-to-image', input: { prompt: 'a big one', resolution: '2K' } });
    const done = await untilDone(r.json.data.taskId);
    expect(done.json.data.consumeCredits).toBe(24);
    const url = JSON.parse(done.json.data.resultJson).resultUrls[0];
    expect(await imageInfo((await download(url)).bytes)).toMatchObject({ width: 2048, height: 2048 });
  });

  it('derives image-to-image output from the first input URL and follows it with aspect_ratio auto', async () => {
    const source = await createTask(t2i('source'));
    const sourceDone = await untilDone(source.json.data.taskId);
    const sourceUrl = JSON.parse(sourceDone.json.data.resultJson).resultUrls[0];
    const blue = await solidPng(400, 200, [10, 40, 240]);
    const bfl = await postJson(`${em.baseUrl}/v1/flux-2-pro`, { prompt: 'blue', input_image: blue.toString('base64'), width: 400, height: 208 }, { 'x-key': 'k' });
    const blueReady = await pollUntil(() => getJson(bfl.json.polling_url, { 'x-key': 'k' }), (p) => p.json.status === 'Ready');
    const r = await createTask({
      model: 'flux-2/flex-image-to-image',
      input: { prompt: 'make it night', aspect_ratio: 'auto', resolution: '1K', input_urls: [blueReady.json.result.sample, sourceUrl] },
    });
    expect(r.json.code).toBe(200);
    const done = await untilDone(r.json.data.taskId);
    const img = await download(JSON.parse(done.json.data.resultJson).resultUrls[0]);
    const info = await imageInfo(img.bytes);
    expect(info.width / info.height).toBeCloseTo(400 / 208, 1);
    const [red, , b] = await meanColor(img.bytes);
    expect(b).toBeGreaterThan(red + 40);
  });

  it('has no seed field, so it draws seeds from the seeded PRNG: a reset emulator repeats its images', async () => {
    const image = async () => {
      const r = await createTask(t2i('same prompt'));
      const done = await untilDone(r.json.data.taskId);
      return (await download(JSON.parse(done.json.data.resultJson).resultUrls[0])).bytes;
    };
    em.reset();
    const first = await image();
    const second = await image();
    em.reset();
    expect((await image()).equals(first)).toBe(true);
    expect(first.equals(second)).toBe(false);
  });

  it('answers unknown task ids with code 404', async () => {
    const r = await recordInfo('task_flux-2_0');
    expect(r.json).toMatchObject({ code: 404, msg: expect.any(String) });
  });

  it('reports the balance on /api/v1/chat/credit', async () => {
    await untilDone((await createTask(t2i())).json.data.taskId);
    const r = await getJson(`${em.baseUrl}/api/v1/chat/credit`, AUTH);
    expect(r.json).toEqual({ code: 200, msg: 'success', data: 1_000_000 - 5 });
  });
});

describe('kie.ai errors', () => {
  it('refuses a missing or invalid key with body code 401 and HTTP 200 by default', async () => {
    const missing = await createTask(t2i(), {});
    expect(missing.status).toBe(200);
    expect(missing.json).toEqual({ code: 401, msg: 'You do not have access permissions' });
    const strict = await startEmulator({ validKeys: ['right'] });
    try {
      const wrong = await createTask(t2i(), { authorization: 'Bearer wrong' }, strict);
      expect(wrong.json.code).toBe(401);
    } finally {
      await strict.close();
    }
  });

  it('mirrors the body code in the HTTP status when errorStatusStyle is mirror', async () => {
    const mirror = await startEmulator({ errorStatusStyle: 'mirror' });
    try {
      const r = await createTask(t2i(), {}, mirror);
      expect(r.status).toBe(401);
      expect(r.json.code).toBe(401);
      const bad = await createTask({ model: 'flux-2/pro-text-to-image', input: { prompt: 'no' } }, AUTH, mirror);
      expect(bad.status).toBe(422);
    } finally {
      await mirror.close();
    }
  });

  it.each([
    ['a prompt shorter than 3 characters', { model: 'flux-2/pro-text-to-image', input: { prompt: 'ab' } }],
    ['an unknown aspect_ratio', { model: 'flux-2/pro-text-to-image', input: { prompt: 'abc', aspect_ratio: '5:4' } }],
    ['an unknown resolution', { model: 'flux-2/pro-text-to-image', input: { prompt: 'abc', resolution: '4K' } }],
    ['image-to-image without input_urls', { model: 'flux-2/flex-image-to-image', input: { prompt: 'abc' } }],
    ['more than 8 input_urls', { model: 'flux-2/flex-image-to-image', input: { prompt: 'abc', input_urls: Array(9).fill('http://127.0.0.1:1/a.png') } }],
    ['input_urls that are not URLs', { model: 'flux-2/pro-image-to-image', input: { prompt: 'abc', input_urls: ['aGVsbG8='] } }],
    ['aspect_ratio auto without an image', { model: 'flux-2/pro-text-to-image', input: { prompt: 'abc', aspect_ratio: 'auto' } }],
    ['the max model, which kie does not offer', { model: 'flux-2/max-text-to-image', input: { prompt: 'abc' } }],
    ['a missing input object', { model: 'flux-2/pro-text-to-image' }],
  ])('answers code 422 for %s', async (_name, body) => {
    const r = await createTask(body);
    expect(r.json).toMatchObject({ code: 422, msg: expect.any(String) });
    expect(em.stats().submissions.kie).toBe(0);
  });

  it('answers code 402 when credits run out and 429 at the active-task cap', async () => {
    em.setFaults({ submit: { insufficientCredits: 1 } });
    expect((await createTask(t2i())).json.code).toBe(402);
    em.setFaults({ activeTaskCap: 1 });
    expect((await createTask(t2i('one [stuck]'))).json.code).toBe(200);
    expect((await createTask(t2i('two'))).json.code).toBe(429);
  });

  it('reports moderation and failures as state fail with failCode and failMsg, charging nothing', async () => {
    for (const [prompt, failCode] of [
      ['bad words [moderate-request]', '422'],
      ['bad output [moderate-content]', '422'],
      ['breaks [fail]', '500'],
    ]) {
      const r = await createTask(t2i(prompt));
      const done = await untilDone(r.json.data.taskId);
      expect(done.json.data).toMatchObject({ state: 'fail', failCode, failMsg: expect.any(String), resultJson: '', consumeCredits: 0 });
    }
  });

  it('keeps a [stuck] task waiting', async () => {
    const r = await createTask(t2i('forever [stuck]'));
    const last = await pollUntil(() => recordInfo(r.json.data.taskId), () => false, 5, 10);
    expect(last.json.data.state).toBe('waiting');
  });

  it('answers injected 5xx with body code 500 and injected 429 with Retry-After', async () => {
    em.setFaults({ submit: { error5xx: 1 } });
    const five = await createTask(t2i());
    expect(five.json.code).toBe(500);
    em.setFaults({ poll: { rate429: 1, retryAfterSec: 4 } });
    const limited = await recordInfo('whatever');
    expect(limited.json.code).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('4');
    em.setFaults({ submit: { error5xx: 1, status5xx: 503 } });
    expect((await createTask(t2i())).json.code).toBe(455);
  });
});

describe('kie.ai callbacks', () => {
  it('POSTs the completion to callBackUrl with X-Webhook-Signature = base64 HMAC(key, taskId.timestamp)', async () => {
    const rx = await startReceiver();
    try {
      const r = await createTask({ ...t2i(), callBackUrl: `${rx.url}/kie` });
      const [cb] = await rx.waitFor(1);
      expect(cb.json).toMatchObject({ code: 200, msg: expect.any(String), data: { taskId: r.json.data.taskId, state: 'success', resultJson: expect.any(String), consumeCredits: 5 } });
      const ts = cb.headers['x-webhook-timestamp'] as string;
      expect(ts).toMatch(/^\d+$/);
      const expected = createHmac('sha256', HMAC_KEY).update(`${r.json.data.taskId}.${ts}`).digest('base64');
      const got = Buffer.from(cb.headers['x-webhook-signature'] as string);
      expect(got.length === Buffer.from(expected).length && timingSafeEqual(got, Buffer.from(expected))).toBe(true);
    } finally {
      await rx.close();
    }
  });

  it('sends code 501 with state fail for a failed task, and a wrong signature when asked', async () => {
    const rx = await startReceiver();
    try {
      em.setFaults({ callback: { badSignature: 1 } });
      const r = await createTask({ ...t2i('x [fail]'), callBackUrl: rx.url });
      const [cb] = await rx.waitFor(1);
      expect(cb.json).toMatchObject({ code: 501, data: { state: 'fail', failCode: '500', consumeCredits: 0 } });
      const ts = cb.headers['x-webhook-timestamp'] as string;
      expect(cb.headers['x-webhook-signature']).not.toBe(createHmac('sha256', HMAC_KEY).update(`${r.json.data.taskId}.${ts}`).digest('base64'));
    } finally {
      await rx.close();
    }
  });

  it('leaves callbacks unsigned when the account has no webhookHmacKey', async () => {
    const plain = await startEmulator({ latencyMs: 0 });
    const rx = await startReceiver();
    try {
      await createTask({ ...t2i(), callBackUrl: rx.url }, AUTH, plain);
      const [cb] = await rx.waitFor(1);
      expect(cb.headers['x-webhook-signature']).toBeUndefined();
    } finally {
      await rx.close();
      await plain.close();
    }
  });
});
