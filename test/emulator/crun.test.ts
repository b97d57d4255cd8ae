import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, getJson, imageInfo, manualClock, meanColor, pollUntil, postJson, solidPng, startReceiver } from './helpers';

const AUTH = { 'x-api-key': 'crun-key' };
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

const create = (body: unknown, headers: Record<string, string> = AUTH, target: Emulator = em) =>
  postJson(`${target.baseUrl}/api/v1/client/job/CreateTask`, body, headers);
const info = (id: string, target: Emulator = em) => getJson(`${target.baseUrl}/api/v1/client/job/TaskInfo?task_id=${id}`, AUTH);
const untilDone = (id: string) =>
  pollUntil(
    () => info(id),
    (r) => ['success', 'failed'].includes(r.json?.data?.status),
  );
const flex = (prompt = 'a lighthouse', input: Record<string, unknown> = {}) => ({ model: 'flux-2-flex', input: { prompt, ...input } });

describe('crun.ai CreateTask and TaskInfo', () => {
  it('answers CreateTask with code 200, message and a task_id', async () => {
    const r = await create(flex());
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ code: 200, message: 'success', data: { task_id: expect.stringMatching(/^task_/) } });
  });

  it('walks pending → running → success as the latency passes', async () => {
    const clock = manualClock();
    const timed = await startEmulator({ latencyMs: 1000, clock: clock.now });
    try {
      const r = await create(flex(), AUTH, timed);
      const data = async () => (await info(r.json.data.task_id, timed)).json.data;
      expect(await data()).toMatchObject({ status: 'pending', result: null, duration_s: null, complete_at: null, source: 'api' });
      expect((await data()).credits).toBeUndefined();
      clock.advance(500);
      expect((await data()).status).toBe('running');
      clock.advance(500);
      expect((await pollUntil(data, (d) => d.status !== 'running')).status).toBe('success');
    } finally {
      await timed.close();
    }
  });

  it('finishes with param as an object, times in seconds and result.media_urls', async () => {
    const body = { model: 'flux-2-max', callback_url: null, input: { prompt: 'a fox', aspect_ratio: '3:2', output_format: 'jpeg', seed: 4 } };
    const r = await create(body);
    const done = await untilDone(r.json.data.task_id);
    const data = done.json.data;
    expect(data).toMatchObject({
      task_id: r.json.data.task_id,
      model_version: 'flux-2-max',
      status: 'success',
      param: { model: 'flux-2-max', callback_url: null, input: body.input },
      result: { code: 200, message: 'success', media_urls: [expect.any(String)] },
      credits: 16,
    });
    expect(data.create_at).toBeLessThan(1e11);
    expect(data.complete_at).toBeGreaterThanOrEqual(data.create_at);
    const img = await download(data.result.media_urls[0]);
    const meta = await imageInfo(img.bytes);
    expect(meta.format).toBe('jpeg');
    expect(meta.width / meta.height).toBeCloseTo(1.5, 1);
  });

  it('edits from img_urls and follows the input with aspect_ratio auto', async () => {
    const green = await solidPng(256, 512, [20, 220, 30]);
    const bfl = await postJson(`${em.baseUrl}/v1/flux-2-pro`, { prompt: 'g', input_image: green.toString('base64') }, { 'x-key': 'k' });
    const ready = await pollUntil(() => getJson(bfl.json.polling_url, { 'x-key': 'k' }), (p) => p.json.status === 'Ready');
    const r = await create(flex('night', { img_urls: [ready.json.result.sample], aspect_ratio: 'auto' }));
    const done = await untilDone(r.json.data.task_id);
    const img = await download(done.json.data.result.media_urls[0]);
    const meta = await imageInfo(img.bytes);
    expect(meta.height / meta.width).toBeCloseTo(2, 1);
    const [red, green2] = await meanColor(img.bytes);
    expect(green2).toBeGreaterThan(red + 40);
  });

  it('is deterministic in prompt and seed', async () => {
    const bytes = async (seed: number) => {
      const r = await create(flex('same', { seed }));
      return (await download((await untilDone(r.json.data.task_id)).json.data.result.media_urls[0])).bytes;
    };
    const a = await bytes(1);
    expect(a.equals(await bytes(1))).toBe(true);
    expect(a.equals(await bytes(2))).toBe(false);
  });

  it('estimates credits without creating a task', async () => {
    const r = await postJson(`${em.baseUrl}/api/v1/client/job/estimate-credits`, flex('x', { resolution: '2K' }), AUTH);
    expect(r.json).toEqual({ code: 200, message: 'success', data: { credits: 20 } });
    expect(em.stats().submissions.crun).toBe(0);
  });
});

describe('crun.ai errors', () => {
  it('refuses a missing x-api-key with code 401 (HTTP 200 by default, 401 when mirrored)', async () => {
    const r = await create(flex(), {});
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ code: 401, message: expect.any(String) });
    const mirror = await startEmulator({ errorStatusStyle: 'mirror', validKeys: ['ok'] });
    try {
      const wrong = await create(flex(), { 'x-api-key': 'nope' }, mirror);
      expect(wrong.status).toBe(401);
    } finally {
      await mirror.close();
    }
  });

  it.each([
    ['an unknown model', { model: 'flux-2-pro', input: { prompt: 'x' } }],
    ['a missing prompt', { model: 'flux-2-flex', input: {} }],
    ['steps above 50', flex('x', { steps: 51 })],
    ['guidance below 1.5', flex('x', { guidance: 1 })],
    ['an unknown output_format', flex('x', { output_format: 'gif' })],
    ['more than 8 img_urls', flex('x', { img_urls: Array(9).fill('http://127.0.0.1:1/a.png') })],
    ['aspect_ratio auto without images', flex('x', { aspect_ratio: 'auto' })],
  ])('answers code 422 for %s', async (_name, body) => {
    const r = await create(body);
    expect(r.json).toMatchObject({ code: 422, message: expect.any(String) });
  });

  it('answers code 402 for insufficient credits and 404 for unknown tasks', async () => {
    em.setFaults({ submit: { insufficientCredits: 1 } });
    expect((await create(flex())).json.code).toBe(402);
    expect((await info('task_missing')).json.code).toBe(404);
  });

  it('fails moderated and failed tasks with result.code and an empty media_urls', async () => {
    const cases: [string, number][] = [
      ['x [moderate-request]', 422],
      ['x [moderate-content]', 422],
      ['x [fail]', 501],
    ];
    for (const [prompt, code] of cases) {
      const r = await create(flex(prompt));
      const done = await untilDone(r.json.data.task_id);
      expect(done.json.data).toMatchObject({ status: 'failed', result: { code, message: expect.any(String), media_urls: [] }, credits: 0 });
    }
  });

  it('answers 503-style faults with the maintenance code 455', async () => {
    em.setFaults({ submit: { error5xx: 1, status5xx: 503 } });
    expect((await create(flex())).json.code).toBe(455);
  });
});

describe('crun.ai callbacks', () => {
  it('POSTs the TaskInfo data object to callback_url', async () => {
    const rx = await startReceiver();
    try {
      const r = await create({ ...flex(), callback_url: `${rx.url}/crun` });
      const [cb] = await rx.waitFor(1);
      expect(cb.json).toMatchObject({ task_id: r.json.data.task_id, status: 'success', result: { media_urls: [expect.any(String)] } });
    } finally {
      await rx.close();
    }
  });
});
