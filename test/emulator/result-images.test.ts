/**
 * Result images are rendered on a worker thread and not kept: a result URL serves the same bytes
 * on every fetch until it expires, while the emulator holds no image bytes once downloaded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderImage } from '../../engine/emulator/render';
import { RenderPool } from '../../engine/emulator/render-pool';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { download, getJson, pollUntil, postJson } from './helpers';

let em: Emulator;
beforeAll(async () => {
  em = await startEmulator({ latencyMs: 20, resultTtlMs: 60_000 });
});
afterAll(() => em.close());

async function finishedBflTask(prompt: string, seed: number): Promise<string> {
  const r = await postJson(`${em.baseUrl}/v1/flux-2-flex`, { prompt, seed, width: 96, height: 64 }, { 'x-key': 'k' });
  expect(r.status).toBe(200);
  const done = await pollUntil(() => getJson(r.json.polling_url, { 'x-key': 'k' }), (x) => x.json.status === 'Ready');
  return done.json.result.sample as string;
}

describe('result images', () => {
  it('serves the same bytes for a result URL fetched twice, and keeps none of them', async () => {
    const url = await finishedBflTask('a lighthouse at dawn', 11);
    const first = await download(url);
    expect(em.memory()).toEqual({ heldImages: 0, heldBytes: 0 });
    const second = await download(url);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    // The bytes are the deterministic render of the task, made again for the second fetch.
    const expected = await renderImage({ prompt: 'a lighthouse at dawn', seed: 11, width: 96, height: 64, format: 'jpeg' });
    expect(first.bytes.equals(expected.bytes)).toBe(true);
    expect(em.memory()).toEqual({ heldImages: 0, heldBytes: 0 });
  });

  it('holds a finished image only until its first download', async () => {
    const url = await finishedBflTask('a harbour at night', 3);
    expect(em.memory().heldImages).toBe(1);
    expect(em.memory().heldBytes).toBeGreaterThan(100);
    expect((await download(url)).status).toBe(200);
    expect(em.memory()).toEqual({ heldImages: 0, heldBytes: 0 });
  });
});

describe('render pool', () => {
  it('renders on a worker thread, byte for byte what this thread would render', async () => {
    const pool = new RenderPool();
    try {
      const spec = { prompt: 'a red kite', seed: 5, width: 80, height: 48, format: 'png' as const };
      const [a, b] = await Promise.all([pool.render(spec), pool.render({ ...spec, seed: 6 })]);
      expect(pool.onWorker).toBe(true);
      expect(a.bytes.equals((await renderImage(spec)).bytes)).toBe(true);
      expect(a.bytes.equals(b.bytes)).toBe(false);
      expect(pool.inFlight).toBe(0);
    } finally {
      await pool.close();
    }
  });
});
