/** A status answer that cannot be read (a proxy's HTML page) is retried, never taken as the task's failure. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBflProvider } from '../../engine/providers/bfl';

let server: Server;
let base = '';
let garbled = 0;
let jpeg: Buffer;

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#468' } }).jpeg().toBuffer();
  server = createServer((req, res) => {
    if (req.method === 'POST') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 't1', polling_url: `${base}/v1/get_result?id=t1`, cost: 5 }));
    if (req.url?.startsWith('/v1/get_result')) {
      if (garbled > 0) {
        garbled--;
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>captive portal</html>');
      }
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 't1', status: 'Ready', result: { sample: `${base}/sample.jpeg`, seed: 1 } }));
    }
    if (req.url === '/sample.jpeg') return res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('garbled status answers', () => {
  it('are retried like a 5xx, and the task still completes', async () => {
    garbled = 3;
    const bfl = createBflProvider({ apiKey: 'k', baseUrl: base, poll: { intervalMs: 5, maxIntervalMs: 10 } });
    const signal = new AbortController().signal;
    const task = await bfl.submit({ model: 'flex', prompt: 'x', references: [] }, { signal });
    const image = await bfl.wait(task, { signal });
    expect(image.bytes.equals(jpeg)).toBe(true);
    expect(garbled).toBe(0);
  });

  it('that never end make the task resumable instead of failed for good', async () => {
    garbled = 1000;
    const bfl = createBflProvider({ apiKey: 'k', baseUrl: base, poll: { intervalMs: 5, maxIntervalMs: 10, maxErrors: 3 } });
    const signal = new AbortController().signal;
    const task = await bfl.submit({ model: 'flex', prompt: 'x', references: [] }, { signal });
    await expect(bfl.wait(task, { signal })).rejects.toMatchObject({ code: 'provider_failed', details: { resumable: true, taskId: 't1' } });
  });
});
