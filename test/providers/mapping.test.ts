/** The exact wire requests of kie.ai, novita.ai and crun.ai, seen by a recording HTTP server. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import type { ModelId, Provider } from '../../engine/core/provider';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import type { AdapterOptions } from '../../engine/providers/common';
import { createCrunProvider, mapCrunSize } from '../../engine/providers/crun';
import { createKieProvider, mapKieSize } from '../../engine/providers/kie';
import { createNovitaProvider, mapNovitaSize } from '../../engine/providers/novita';
import { caught, fixtures, recordingServer, request, type Fixtures } from './helpers';

const signal = () => new AbortController().signal;

let server: Awaited<ReturnType<typeof recordingServer>>;
let fx: Fixtures;
let receiver: CallbackReceiver;
beforeAll(async () => {
  fx = await fixtures();
  receiver = await CallbackReceiver.start();
  server = await recordingServer((r) => {
    if (r.path.startsWith('/v3/')) return { status: 200, body: { task_id: 'nov-1' } };
    if (r.path.includes('/client/job/')) return { status: 200, body: { code: 200, message: 'success', data: { task_id: 'crun-1' } } };
    return { status: 200, body: { code: 200, msg: 'success', data: { taskId: 'kie-1' } } };
  });
});
afterAll(async () => {
  await server.close();
  await fx.close();
  await receiver.close();
});
beforeEach(() => {
  server.seen.length = 0;
});

const opts = (): AdapterOptions => ({ apiKey: 'k', baseUrl: server.baseUrl });

describe('kie.ai requests', () => {
  it('sends a text-to-image task with aspect ratio and resolution and a Bearer key', async () => {
    const task = await createKieProvider(opts()).submit(request({ width: 2560, height: 1440, seed: 3, steps: 10 }), { signal: signal() });
    expect(server.seen[0].path).toBe('/api/v1/jobs/createTask');
    expect(server.seen[0].headers.authorization).toBe('Bearer k');
    expect(server.seen[0].body).toEqual({
      model: 'flux-2/flex-text-to-image',
      input: { prompt: 'a lighthouse at dawn', aspect_ratio: '16:9', resolution: '2K' },
    });
    expect(task).toMatchObject({ provider: 'kie', taskId: 'kie-1', model: 'flex' });
    expect(task.seed).toBeUndefined();
  });

  it('sends references as input_urls to the image-to-image model, following the first image without a size', async () => {
    await createKieProvider(opts()).submit(request({ width: undefined, height: undefined, references: [fx.urlRef()] }), { signal: signal() });
    expect(server.seen[0].body).toEqual({
      model: 'flux-2/flex-image-to-image',
      input: { prompt: 'a lighthouse at dawn', aspect_ratio: 'auto', resolution: '1K', input_urls: [fx.url] },
    });
  });

  it('adds callBackUrl when callbacks are on', async () => {
    await createKieProvider({ ...opts(), callbacks: receiver }).submit(request(), { signal: signal() });
    expect((server.seen[0].body as { callBackUrl?: string }).callBackUrl).toBe(receiver.urlFor('kie'));
  });
});

describe('novita.ai requests', () => {
  it('sends size as "W*H" within 256–1536, seed and image URLs', async () => {
    const task = await createNovitaProvider(opts()).submit(request({ width: 2048, height: 1024, seed: 5, references: [fx.urlRef()] }), { signal: signal() });
    expect(server.seen[0].path).toBe('/v3/async/flux-2-flex');
    expect(server.seen[0].headers.authorization).toBe('Bearer k');
    expect(server.seen[0].body).toEqual({ prompt: 'a lighthouse at dawn', size: '1536*768', seed: 5, images: [fx.url] });
    expect(task).toMatchObject({ provider: 'novita', taskId: 'nov-1', seed: 5 });
  });

  it('refuses a fourth reference before sending anything', async () => {
    const e = (await caught(
      createNovitaProvider(opts()).submit(request({ references: [fx.urlRef(), fx.urlRef(), fx.urlRef(), fx.urlRef()] }), { signal: signal() }),
    )) as EngineError;
    expect(e.code).toBe('unsupported_param');
    expect(server.seen).toHaveLength(0);
  });
});

describe('crun.ai requests', () => {
  it('sends flex with steps, guidance, seed, img_urls and output_format under input, and an x-api-key', async () => {
    await createCrunProvider({ ...opts(), callbacks: receiver }).submit(
      request({ width: 1024, height: 768, steps: 20, guidance: 3, outputFormat: 'png', references: [fx.urlRef()] }),
      { signal: signal() },
    );
    expect(server.seen[0].path).toBe('/api/v1/client/job/CreateTask');
    expect(server.seen[0].headers['x-api-key']).toBe('k');
    expect(server.seen[0].body).toEqual({
      model: 'flux-2-flex',
      callback_url: receiver.urlFor('crun'),
      input: { prompt: 'a lighthouse at dawn', aspect_ratio: '4:3', resolution: '1K', img_urls: [fx.url], seed: 7, output_format: 'png', steps: 20, guidance: 3 },
    });
  });

  it('leaves steps and guidance out for max', async () => {
    await createCrunProvider(opts()).submit(request({ model: 'max', steps: 20, guidance: 3 }), { signal: signal() });
    expect(server.seen[0].body).toMatchObject({ model: 'flux-2-max' });
    expect((server.seen[0].body as { input: object }).input).not.toHaveProperty('steps');
  });
});

describe('models a provider does not offer', () => {
  it.each([
    ['kie', 'max', createKieProvider],
    ['novita', 'max', createNovitaProvider],
    ['crun', 'pro', createCrunProvider],
  ] as [string, ModelId, (o: AdapterOptions) => Provider][])('%s refuses [%s] with unsupported_model before sending anything', async (_id, model, make) => {
    const e = (await caught(make(opts()).submit(request({ model }), { signal: signal() }))) as EngineError;
    expect(e.code).toBe('unsupported_model');
    expect(e.message).toContain(`[${model}]`);
    expect(server.seen).toHaveLength(0);
  });
});

describe('size mapping', () => {
  it.each([
    [1024, 1024, 1024, 1024],
    [2560, 1440, 2736, 1536],
    [1920, 1080, 1360, 768],
    [1000, 750, 1184, 880],
    [600, 900, 832, 1248],
  ])('kie and crun map %i×%i to %i×%i', (w, h, ew, eh) => {
    for (const map of [mapKieSize, mapCrunSize]) {
      const m = map(w, h);
      expect([m.width, m.height]).toEqual([ew, eh]);
      expect(Boolean(m.note)).toBe(w !== ew || h !== eh);
    }
  });

  it.each([
    [1024, 1024, 1024, 1024],
    [2048, 1024, 1536, 768],
    [100, 100, 256, 256],
    [200, 1000, 256, 1280],
    [4000, 500, 1536, 256],
  ])('novita maps %i×%i to %i×%i', (w, h, ew, eh) => {
    const m = mapNovitaSize(w, h);
    expect([m.width, m.height]).toEqual([ew, eh]);
  });
});
