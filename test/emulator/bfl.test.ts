import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, getJson, imageInfo, manualClock, meanColor, pollUntil, postJson, solidPng, startReceiver } from './helpers';

const KEY = { 'x-key': 'test-key' };
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

async function submit(model: string, body: Record<string, unknown>, headers: Record<string, string> = KEY) {
  return postJson(`${em.baseUrl}/v1/${model}`, body, headers);
}

async function pollToEnd(pollingUrl: string) {
  return pollUntil(
    () => getJson(pollingUrl, KEY),
    (r) => r.json?.status !== 'Pending',
  );
}

describe('BFL submit and poll', () => {
  it('answers a text-to-image submit with id, a polling_url on another origin and the price', async () => {
    const r = await submit('flux-2-max', { prompt: 'a lighthouse at dawn', width: 256, height: 256, seed: 42 });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: expect.any(String), cost: 7.000000000000001, input_mp: 0, output_mp: 0.06 });
    const polling = new URL(r.json.polling_url);
    expect(polling.origin).not.toBe(new URL(em.baseUrl).origin);
    expect(polling.origin).toBe(em.pollBaseUrl);
    expect(polling.pathname).toBe('/v1/get_result');
    expect(polling.searchParams.get('id')).toBe(r.json.id);
  });

  it('answers Pending with Retry-After and rate-limit headers while generating', async () => {
    em.setLatency(60_000);
    const r = await submit('flux-2-flex', { prompt: 'a red fox', width: 64, height: 64 });
    const first = await getJson(r.json.polling_url, KEY);
    expect(first.json).toEqual({ id: r.json.id, status: 'Pending', result: null, progress: null, details: null, preview: null });
    expect(first.headers.get('retry-after')).toBe('1');
    expect(first.headers.get('x-ratelimit-limit')).toBe('1200');
    expect(first.headers.get('x-ratelimit-remaining')).toEqual(expect.any(String));
  });

  it('goes from Pending to Ready exactly when the latency has passed', async () => {
    const clock = manualClock();
    const timed = await startEmulator({ latencyMs: 1000, clock: clock.now });
    try {
      const r = await postJson(`${timed.baseUrl}/v1/flux-2-pro`, { prompt: 'x', width: 64, height: 64 }, KEY);
      clock.advance(999);
      expect((await getJson(r.json.polling_url, KEY)).json.status).toBe('Pending');
      clock.advance(1);
      const done = await pollUntil(() => getJson(r.json.polling_url, KEY), (p) => p.json.status !== 'Pending');
      expect(done.json.status).toBe('Ready');
    } finally {
      await timed.close();
    }
  });

  it('serves the Ready sample at the requested size', async () => {
    const r = await submit('flux-2-flex', { prompt: 'a red fox', width: 320, height: 192, seed: 7, prompt_upsampling: false });
    const done = await pollToEnd(r.json.polling_url);
    expect(done.json.status).toBe('Ready');
    expect(done.json.result).toMatchObject({ prompt: 'a red fox', seed: 7, sample: expect.stringContaining('/sample.jpeg?') });
    const img = await download(done.json.result.sample);
    expect(img.status).toBe(200);
    expect(img.type).toBe('image/jpeg');
    expect(await imageInfo(img.bytes)).toEqual({ width: 320, height: 192, format: 'jpeg' });
  });

  it('upsamples the prompt on max and on flex by default', async () => {
    const max = await submit('flux-2-max', { prompt: 'a boat', width: 64, height: 64 });
    const done = await pollToEnd(max.json.polling_url);
    expect(done.json.result.prompt).not.toBe('a boat');
    expect(done.json.result.prompt).toContain('a boat');
    expect(done.json.result.seed).toEqual(expect.any(Number));
  });

  it('renders png when output_format is png and defaults to 1024x1024', async () => {
    const r = await submit('flux-2-pro', { prompt: 'a cube', output_format: 'png', seed: 1 });
    expect(r.json.output_mp).toBe(1);
    expect(r.json.cost).toBe(3);
    const done = await pollToEnd(r.json.polling_url);
    const img = await download(done.json.result.sample);
    expect(img.type).toBe('image/png');
    expect(await imageInfo(img.bytes)).toEqual({ width: 1024, height: 1024, format: 'png' });
  });

  it('rounds sides down to multiples of 16 and scales requests above 4 MP down', async () => {
    const odd = await submit('flux-2-flex', { prompt: 'x', width: 100, height: 70 });
    expect(odd.json.output_mp).toBe(round2((96 * 64) / 2 ** 20));
    const huge = await submit('flux-2-flex', { prompt: 'x', width: 4096, height: 4096 });
    expect(huge.json.output_mp).toBeLessThanOrEqual(4);
  });

  it('prices extra output megapixels rounded up and input megapixels per the formula', async () => {
    const pro = await submit('flux-2-pro', { prompt: 'x', width: 1440, height: 1440 });
    expect(pro.json).toMatchObject({ output_mp: 1.98, cost: 4.5 });
    const ref = await solidPng(1024, 1024, [10, 200, 30]);
    const flex = await submit('flux-2-flex', { prompt: 'x', width: 1024, height: 1024, input_image: ref.toString('base64') });
    expect(flex.json).toMatchObject({ input_mp: 1, output_mp: 1, cost: 10 });
  });

  it('reports the balance on /v1/credits and deducts charged tasks', async () => {
    const before = await getJson(`${em.baseUrl}/v1/credits`, KEY);
    await submit('flux-2-pro', { prompt: 'x', width: 64, height: 64 });
    const after = await getJson(`${em.baseUrl}/v1/credits`, KEY);
    expect(before.json.credits - after.json.credits).toBe(3);
  });
});

describe('BFL image-to-image', () => {
  it('derives the output from a base64 data-URI input and keeps its size when width/height are absent', async () => {
    const input = await solidPng(200, 120, [20, 60, 230]);
    const r = await submit('flux-2-flex', { prompt: 'make it dusk', input_image: `data:image/png;base64,${input.toString('base64')}`, seed: 3 });
    expect(r.status).toBe(200);
    expect(r.json.input_mp).toBeGreaterThan(0);
    const done = await pollToEnd(r.json.polling_url);
    const img = await download(done.json.result.sample);
    expect(await imageInfo(img.bytes)).toMatchObject({ width: 192, height: 112 });
    const [red, , blue] = await meanColor(img.bytes);
    expect(blue).toBeGreaterThan(red + 40);
  });

  it('fetches an input_image given as a URL, including one served by the emulator', async () => {
    const first = await submit('flux-2-pro', { prompt: 'source', width: 128, height: 128, seed: 9 });
    const ready = await pollToEnd(first.json.polling_url);
    const edit = await submit('flux-2-max', { prompt: 'edit', input_image: ready.json.result.sample, width: 128, height: 128 });
    expect(edit.status).toBe(200);
    expect(edit.json.input_mp).toBe(0.02);
    const done = await pollToEnd(edit.json.polling_url);
    expect(done.json.status).toBe('Ready');
  });

  it('refuses an input image that cannot be decoded with 400', async () => {
    const r = await submit('flux-2-flex', { prompt: 'x', input_image: 'bm90IGFuIGltYWdl' });
    expect(r.status).toBe(400);
    expect(r.json.detail).toEqual(expect.any(String));
  });
});

describe('BFL determinism', () => {
  async function render(seed: number, prompt = 'a lighthouse') {
    const r = await submit('flux-2-flex', { prompt, seed, width: 96, height: 64 });
    const done = await pollToEnd(r.json.polling_url);
    return (await download(done.json.result.sample)).bytes;
  }

  it('returns byte-identical images for the same prompt and seed', async () => {
    expect((await render(5)).equals(await render(5))).toBe(true);
  });

  it('returns a different image for another seed or prompt', async () => {
    const a = await render(5);
    expect(a.equals(await render(6))).toBe(false);
    expect(a.equals(await render(5, 'a windmill'))).toBe(false);
  });
});

describe('BFL auth and validation', () => {
  it('refuses a missing x-key with 403 Not authenticated', async () => {
    const r = await submit('flux-2-flex', { prompt: 'x' }, {});
    expect(r.status).toBe(403);
    expect(r.json).toEqual({ detail: 'Not authenticated' });
  });

  it('refuses keys outside validKeys with 403 and the recorded detail', async () => {
    const strict = await startEmulator({ validKeys: ['good'] });
    try {
      const bad = await postJson(`${strict.baseUrl}/v1/flux-2-flex`, { prompt: 'x' }, { 'x-key': 'bad' });
      expect(bad.status).toBe(403);
      expect(bad.json).toEqual({ detail: 'Not authenticated - Invalid Authentication' });
      const good = await postJson(`${strict.baseUrl}/v1/flux-2-flex`, { prompt: 'x', width: 64, height: 64 }, { 'x-key': 'good' });
      expect(good.status).toBe(200);
      const poll = await getJson(good.json.polling_url, { 'x-key': 'bad' });
      expect(poll.status).toBe(403);
    } finally {
      await strict.close();
    }
  });

  it.each([
    ['steps above 50', 'flux-2-flex', { steps: 80 }, 'steps', 'less_than_equal'],
    ['steps below 1', 'flux-2-flex', { steps: 0 }, 'steps', 'greater_than_equal'],
    ['guidance below 1.5', 'flux-2-flex', { guidance: 1 }, 'guidance', 'greater_than_equal'],
    ['guidance above 10', 'flux-2-flex', { guidance: 11 }, 'guidance', 'less_than_equal'],
    ['width below 64', 'flux-2-max', { width: 32 }, 'width', 'greater_than_equal'],
    ['height below 64', 'flux-2-pro', { height: 8 }, 'height', 'greater_than_equal'],
    ['safety_tolerance above 5', 'flux-2-max', { safety_tolerance: 6 }, 'safety_tolerance', 'less_than_equal'],
    ['a fractional seed', 'flux-2-flex', { seed: 1.5 }, 'seed', 'int_from_float'],
    ['an unknown output_format', 'flux-2-flex', { output_format: 'gif' }, 'output_format', 'enum'],
    ['a webhook_url that is not a URL', 'flux-2-flex', { webhook_url: 'nope' }, 'webhook_url', 'url_parsing'],
  ])('answers 422 with a detail array for %s', async (_name, model, extra, field, type) => {
    const r = await submit(model, { prompt: 'x', ...extra });
    expect(r.status).toBe(422);
    expect(r.json.detail).toContainEqual(expect.objectContaining({ loc: ['body', field], type, msg: expect.any(String) }));
  });

  it('answers 422 "Field required" for a missing prompt and for malformed JSON', async () => {
    const missing = await submit('flux-2-flex', { seed: 1 });
    expect(missing.json.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'prompt'], msg: 'Field required' });
    const broken = await postJson(`${em.baseUrl}/v1/flux-2-flex`, '{"prompt": ', KEY);
    expect(broken.status).toBe(422);
    expect(broken.json.detail[0]).toMatchObject({ type: 'json_invalid', msg: 'JSON decode error' });
  });

  it('ignores flex-only fields on max, as FastAPI ignores unknown fields', async () => {
    const r = await submit('flux-2-max', { prompt: 'x', steps: 500, guidance: 99, width: 64, height: 64 });
    expect(r.status).toBe(200);
  });

  it('answers 404 {"detail":"Not Found"} for unknown paths', async () => {
    const r = await submit('flux-3-ultra', { prompt: 'x' });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ detail: 'Not Found' });
  });

  it('answers 422 when get_result has no id, and "Task not found" for unknown ids', async () => {
    const noId = await getJson(`${em.pollBaseUrl}/v1/get_result`, KEY);
    expect(noId.status).toBe(422);
    expect(noId.json.detail[0]).toMatchObject({ type: 'missing', loc: ['query', 'id'] });
    const unknown = await getJson(`${em.pollBaseUrl}/v1/get_result?id=nope`, KEY);
    expect(unknown.status).toBe(200);
    expect(unknown.json).toMatchObject({ id: 'nope', status: 'Task not found', result: null });
  });

  it('loses the task when a client rebuilds the polling URL on the submit host', async () => {
    const r = await submit('flux-2-pro', { prompt: 'x', width: 64, height: 64 });
    const rebuilt = await getJson(`${em.baseUrl}/v1/get_result?id=${r.json.id}`, KEY);
    expect(rebuilt.json.status).toBe('Task not found');
    const right = await getJson(r.json.polling_url, KEY);
    expect(right.json.status).not.toBe('Task not found');
  });
});

describe('BFL moderation, failures and stuck tasks', () => {
  it('reports Request Moderated on the first poll with moderation reasons and charges nothing', async () => {
    em.setLatency(5_000);
    const before = await getJson(`${em.baseUrl}/v1/credits`, KEY);
    const r = await submit('flux-2-flex', { prompt: 'something [moderate-request]', width: 64, height: 64 });
    const poll = await getJson(r.json.polling_url, KEY);
    expect(poll.json).toMatchObject({ status: 'Request Moderated', result: null, details: { 'Moderation Reasons': [expect.any(String)] } });
    const after = await getJson(`${em.baseUrl}/v1/credits`, KEY);
    expect(after.json.credits).toBe(before.json.credits);
  });

  it('reports Content Moderated after generation for [moderate-content]', async () => {
    const r = await submit('flux-2-flex', { prompt: 'x [moderate-content]', width: 64, height: 64 });
    expect((await pollToEnd(r.json.polling_url)).json).toMatchObject({ status: 'Content Moderated', result: null });
  });

  it('reports Error with details for [fail]', async () => {
    const r = await submit('flux-2-flex', { prompt: 'x [fail]', width: 64, height: 64 });
    expect((await pollToEnd(r.json.polling_url)).json).toMatchObject({ status: 'Error', details: { error: expect.any(String) } });
  });

  it('keeps a [stuck] task Pending forever', async () => {
    const r = await submit('flux-2-flex', { prompt: 'x [stuck]', width: 64, height: 64 });
    const polls = await pollUntil(() => getJson(r.json.polling_url, KEY), () => false, 8, 10);
    expect(polls.json.status).toBe('Pending');
  });

  it('draws moderation by probability from the fault config', async () => {
    em.setFaults({ outcome: { moderateContent: 1 } });
    const r = await submit('flux-2-flex', { prompt: 'a kitten', width: 64, height: 64 });
    expect((await pollToEnd(r.json.polling_url)).json.status).toBe('Content Moderated');
    expect(em.stats().outcomes.content_moderated).toBe(1);
  });
});

describe('BFL concurrency cap and credits', () => {
  it('answers 429 once a key has activeTaskCap unfinished tasks and records the peak', async () => {
    em.setFaults({ activeTaskCap: 2 });
    const a = await submit('flux-2-flex', { prompt: 'a [stuck]', width: 64, height: 64 });
    const b = await submit('flux-2-flex', { prompt: 'b [stuck]', width: 64, height: 64 });
    const c = await submit('flux-2-flex', { prompt: 'c', width: 64, height: 64 });
    expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    expect(c.json.detail).toEqual(expect.stringContaining('active tasks'));
    const other = await submit('flux-2-flex', { prompt: 'c', width: 64, height: 64 }, { 'x-key': 'other-key' });
    expect(other.status).toBe(200);
    const s = em.stats();
    expect(s.peakActive.bfl['test-key']).toBe(2);
    expect(s.capRejections.bfl).toBe(1);
  });

  it('frees a slot when a task finishes', async () => {
    em.setFaults({ activeTaskCap: 1 });
    const a = await submit('flux-2-flex', { prompt: 'a', width: 64, height: 64 });
    await pollToEnd(a.json.polling_url);
    const b = await submit('flux-2-flex', { prompt: 'b', width: 64, height: 64 });
    expect(b.status).toBe(200);
  });

  it('answers 402 when the balance does not cover the cost', async () => {
    const poor = await startEmulator({ initialCredits: 5 });
    try {
      const r = await postJson(`${poor.baseUrl}/v1/flux-2-max`, { prompt: 'x', width: 64, height: 64 }, KEY);
      expect(r.status).toBe(402);
      expect(r.json.detail).toEqual(expect.stringContaining('Insufficient credits'));
      expect(poor.stats().submissions.bfl).toBe(0);
    } finally {
      await poor.close();
    }
  });

  it('answers 402 when the insufficientCredits fault fires', async () => {
    em.setFaults({ submit: { insufficientCredits: 1 } });
    const r = await submit('flux-2-pro', { prompt: 'x', width: 64, height: 64 });
    expect(r.status).toBe(402);
    expect(em.stats().injected.submit.insufficientCredits).toBe(1);
  });
});

describe('BFL result URLs', () => {
  it('expires the sample URL after resultTtlMs with a 403 like an expired signed URL', async () => {
    const clock = manualClock();
    const short = await startEmulator({ latencyMs: 0, resultTtlMs: 10 * 60 * 1000, clock: clock.now });
    try {
      const r = await postJson(`${short.baseUrl}/v1/flux-2-pro`, { prompt: 'x', width: 64, height: 64 }, KEY);
      const done = await pollUntil(() => getJson(r.json.polling_url, KEY), (p) => p.json.status === 'Ready');
      clock.advance(10 * 60 * 1000);
      expect((await download(done.json.result.sample)).status).toBe(200);
      clock.advance(1);
      const img = await download(done.json.result.sample);
      expect(img.status).toBe(403);
      expect(img.bytes.toString()).toContain('AuthenticationFailed');
    } finally {
      await short.close();
    }
  });

  it('refuses a result URL whose signature was tampered with', async () => {
    const r = await submit('flux-2-pro', { prompt: 'x', width: 64, height: 64 });
    const done = await pollToEnd(r.json.polling_url);
    const url = new URL(done.json.result.sample);
    url.searchParams.set('sig', 'f'.repeat(64));
    expect((await download(url.toString())).status).toBe(403);
  });

  it('keeps the same sample URL on later polls (no re-signing)', async () => {
    const r = await submit('flux-2-pro', { prompt: 'x', width: 64, height: 64 });
    const a = await pollToEnd(r.json.polling_url);
    const b = await getJson(r.json.polling_url, KEY);
    expect(b.json.result.sample).toBe(a.json.result.sample);
  });
});

describe('BFL webhooks', () => {
  it('POSTs Ready to webhook_url signed with X-BFL-Signature = sha256=HMAC(secret, raw body)', async () => {
    const rx = await startReceiver();
    try {
      const r = await submit('flux-2-flex', { prompt: 'x', width: 64, height: 64, seed: 11, webhook_url: `${rx.url}/hook`, webhook_secret: 's3cret' });
      expect(r.json).toMatchObject({ id: expect.any(String), status: 'Pending', webhook_url: `${rx.url}/hook` });
      const [cb] = await rx.waitFor(1);
      expect(cb.path).toBe('/hook');
      expect(cb.json).toMatchObject({ id: r.json.id, status: 'Ready', result: { seed: 11, sample: expect.any(String), prompt: expect.any(String) }, timestamp: expect.any(Number) });
      const expected = `sha256=${createHmac('sha256', 's3cret').update(cb.raw).digest('hex')}`;
      expect(cb.headers['x-bfl-signature']).toBe(expected);
      expect((await download(cb.json.result.sample)).status).toBe(200);
      expect(em.stats().callbacks.delivered).toBe(1);
    } finally {
      await rx.close();
    }
  });

  it('sends an Error webhook for a failed task', async () => {
    const rx = await startReceiver();
    try {
      await submit('flux-2-flex', { prompt: 'x [fail]', width: 64, height: 64, webhook_url: rx.url });
      const [cb] = await rx.waitFor(1);
      expect(cb.json).toMatchObject({ status: 'Error', message: expect.any(String) });
      expect(cb.headers['x-bfl-signature']).toBeUndefined();
    } finally {
      await rx.close();
    }
  });

  it('can send a wrong signature, a duplicate, or nothing', async () => {
    const rx = await startReceiver();
    try {
      em.setFaults({ callback: { badSignature: 1, duplicate: 1 } });
      await submit('flux-2-flex', { prompt: 'x', width: 64, height: 64, webhook_url: rx.url, webhook_secret: 'k' });
      const got = await rx.waitFor(2);
      expect(got).toHaveLength(2);
      expect(got[0].raw).toBe(got[1].raw);
      expect(got[0].headers['x-bfl-signature']).not.toBe(`sha256=${createHmac('sha256', 'k').update(got[0].raw).digest('hex')}`);
      em.setFaults({ callback: { missing: 1 } });
      const r = await submit('flux-2-flex', { prompt: 'y', width: 64, height: 64, webhook_url: rx.url, webhook_secret: 'k' });
      await pollToEnd(r.json.polling_url);
      await pollUntil(async () => em.stats().callbacks.missing, (n) => n === 1);
      expect(rx.received).toHaveLength(2);
      expect(em.stats().callbacks).toMatchObject({ duplicated: 1, badSignature: 1, missing: 1 });
    } finally {
      await rx.close();
    }
  });

  it('retries a webhook the receiver refused', async () => {
    const retrying = await startEmulator({ latencyMs: 0, callbackRetryDelaysMs: [5, 5] });
    let calls = 0;
    const rx = await startReceiver(() => (++calls === 1 ? 500 : 200));
    try {
      await postJson(`${retrying.baseUrl}/v1/flux-2-pro`, { prompt: 'x', width: 64, height: 64, webhook_url: rx.url }, KEY);
      await rx.waitFor(2);
      await pollUntil(async () => retrying.stats().callbacks.delivered, (n) => n === 1);
      expect(retrying.stats().callbacks).toMatchObject({ delivered: 1, failed: 0 });
      expect(retrying.stats().callbacks.sent.bfl).toBe(2);
    } finally {
      await rx.close();
      await retrying.close();
    }
  });
});

function round2(n: number) {
  return Math.round(n * 100) / 100;
}
