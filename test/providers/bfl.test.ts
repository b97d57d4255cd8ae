import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import type { ModelId } from '../../engine/core/provider';
import type { Emulator } from '../../engine/emulator/types';
import { capabilities, createBflProvider, isTrustedPollingUrl, mapBflSize, readBflError } from '../../engine/providers/bfl';
import { creditsToUsd } from '../../engine/providers/common';
import { adapter, caught, emulator, fixtures, recordingServer, request, type Fixtures } from './helpers';

const signal = () => new AbortController().signal;

describe('BFL request mapping', () => {
  let server: Awaited<ReturnType<typeof recordingServer>>;
  let fx: Fixtures;
  beforeAll(async () => {
    fx = await fixtures();
    server = await recordingServer((r, base) => ({ status: 200, body: { id: 'task-1', polling_url: `${base}/v1/get_result?id=task-1`, cost: null } }));
  });
  afterAll(async () => {
    await server.close();
    await fx.close();
  });
  beforeEach(() => {
    server.seen.length = 0;
  });

  const full = () =>
    request({
      width: 1000,
      height: 700,
      seed: 11,
      steps: 30,
      guidance: 4,
      promptUpsampling: false,
      safetyTolerance: 4,
      outputFormat: 'png',
      references: [fx.urlRef(), fx.localRef()],
    });

  it('sends flex fields, references as input_image / input_image_2 and sizes rounded to 16', async () => {
    const p = createBflProvider({ apiKey: 'k', baseUrl: server.baseUrl });
    const task = await p.submit({ ...full(), model: 'flex' }, { signal: signal() });
    const sent = server.seen[0];
    expect(sent.path).toBe('/v1/flux-2-flex');
    expect(sent.headers['x-key']).toBe('k');
    expect(sent.body).toEqual({
      prompt: 'a lighthouse at dawn',
      width: 1008,
      height: 704,
      seed: 11,
      steps: 30,
      guidance: 4,
      prompt_upsampling: false,
      safety_tolerance: 4,
      output_format: 'png',
      input_image: fx.url,
      input_image_2: fx.png.toString('base64'),
    });
    expect(task).toMatchObject({ provider: 'bfl', model: 'flex', taskId: 'task-1', seed: 11, pollingUrl: `${server.baseUrl}/v1/get_result?id=task-1` });
    expect(task.costUsd).toBeUndefined();
  });

  it.each(['max', 'pro'] as ModelId[])('leaves steps, guidance and prompt_upsampling out for %s', async (model) => {
    const p = createBflProvider({ apiKey: 'k', baseUrl: server.baseUrl });
    await p.submit({ ...full(), model }, { signal: signal() });
    const body = server.seen[0].body as Record<string, unknown>;
    expect(server.seen[0].path).toBe(`/v1/flux-2-${model}`);
    expect(body).not.toHaveProperty('steps');
    expect(body).not.toHaveProperty('guidance');
    expect(body).not.toHaveProperty('prompt_upsampling');
    expect(body.safety_tolerance).toBe(4);
  });

  it('refuses more than 8 references before sending anything', async () => {
    const p = createBflProvider({ apiKey: 'k', baseUrl: server.baseUrl });
    const e = (await caught(p.submit(request({ references: Array.from({ length: 9 }, () => fx.urlRef()) }), { signal: signal() }))) as EngineError;
    expect(e.code).toBe('unsupported_param');
    expect(e.details.param).toBe('references');
    expect(server.seen).toHaveLength(0);
  });
});

describe('BFL polling', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await emulator({ strictPollingHost: true });
  });
  afterAll(() => emu.close());

  it('polls the polling_url it was given, on another host than submit', async () => {
    const p = adapter('bfl', emu);
    const task = await p.submit(request(), { signal: signal() });
    expect(task.pollingUrl?.startsWith(emu.pollBaseUrl)).toBe(true);
    expect(emu.pollBaseUrl).not.toBe(emu.baseUrl);
    const result = await p.wait(task, { signal: signal() });
    expect(result.bytes.length).toBeGreaterThan(100);
    expect(result.seed).toBe(7);
  });

  it('records the cost of a task in USD', async () => {
    const p = adapter('bfl', emu);
    const task = await p.submit(request({ model: 'max', width: 256, height: 256 }), { signal: signal() });
    expect(task.costUsd).toBe(0.07);
  });

  it('refuses to send the key to a polling URL outside bfl.ai', async () => {
    const p = adapter('bfl', emu);
    const before = emu.stats().polls.bfl;
    const e = (await caught(
      p.wait({ provider: 'bfl', model: 'flex', taskId: 't', pollingUrl: 'https://evil.example.com/v1/get_result?id=t', submittedAt: 0 }, { signal: signal() }),
    )) as EngineError;
    expect(e.code).toBe('provider_failed');
    expect(e.message).toContain('evil.example.com');
    expect(emu.stats().polls.bfl).toBe(before);
  });

  it('suggests raising safetyTolerance when a request is moderated', async () => {
    const p = adapter('bfl', emu);
    const task = await p.submit(request({ prompt: 'x [moderate-request]', safetyTolerance: 1 }), { signal: signal() });
    const e = (await caught(p.wait(task, { signal: signal() }))) as EngineError;
    expect(e.code).toBe('moderated');
    expect(e.message).toMatch(/safetyTolerance \(now 1/);
    expect(e.message).toContain('Request Moderated');
  });

  it('reports an unknown or expired task as task_not_found', async () => {
    const p = adapter('bfl', emu);
    const e = (await caught(
      p.wait({ provider: 'bfl', model: 'flex', taskId: 'gone', pollingUrl: `${emu.pollBaseUrl}/v1/get_result?id=gone`, submittedAt: 0 }, { signal: signal() }),
    )) as EngineError;
    expect(e.code).toBe('task_not_found');
    expect(e.details.taskId).toBe('gone');
  });
});

describe('BFL rules', () => {
  it.each([
    ['https://api.eu4.bfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', true],
    ['https://gateway.bfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', true],
    ['http://api.eu4.bfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', false],
    ['https://bfl.ai.evil.com/v1/get_result?id=1', 'https://api.bfl.ai', false],
    ['https://evilbfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', false],
    ['https://user:pw@api.bfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', false],
    ['http://127.0.0.1:9999/v1/get_result?id=1', 'https://api.bfl.ai', false],
    ['http://localhost:5001/v1/get_result?id=1', 'http://127.0.0.1:5000', true],
    ['http://10.0.0.5/v1/get_result?id=1', 'http://127.0.0.1:5000', false],
    ['https://proxy.example.com/v1/get_result?id=1', 'https://proxy.example.com', true],
    ['https://other.example.com/v1/get_result?id=1', 'https://proxy.example.com', false],
  ])('trusts polling URL %s with base %s: %s', (url, base, ok) => {
    expect(isTrustedPollingUrl(url, base)).toBe(ok);
  });

  it.each([
    [1024, 1024, 1024, 1024],
    [1000, 700, 1008, 704],
    [10, 10, 64, 64],
    [4096, 4096, 2048, 2048],
    [3000, 2000, 2496, 1664],
  ])('maps %i×%i to %i×%i', (w, h, ew, eh) => {
    const m = mapBflSize(w, h);
    expect([m.width, m.height]).toEqual([ew, eh]);
    expect(m.width * m.height).toBeLessThanOrEqual(2048 * 2048);
    expect(Boolean(m.note)).toBe(w !== ew || h !== eh);
  });

  it.each([
    [7.000000000000001, 0.07],
    [3, 0.03],
    [null, undefined],
    [undefined, undefined],
    [Number.NaN, undefined],
  ])('turns %s credits into %s USD', (credits, usd) => {
    expect(creditsToUsd(credits, 0.01)).toBe(usd);
  });

  it('reads the refused parameter from a FastAPI 422 body', () => {
    expect(readBflError({ detail: [{ loc: ['body', 'steps'], msg: 'Input should be less than or equal to 50' }] }, '')).toEqual({
      message: 'steps: Input should be less than or equal to 50',
      param: 'steps',
    });
  });

  it('honours guidance and steps only on flex', () => {
    expect(capabilities.honours.flex).toEqual(expect.arrayContaining(['steps', 'guidance', 'promptUpsampling']));
    expect(capabilities.honours.max).not.toContain('steps');
  });
});
