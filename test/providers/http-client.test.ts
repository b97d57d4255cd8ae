import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadImage, requestJson, RESULT_MAX_BYTES, type ProviderContext } from '../../engine/providers/http';
import { caught } from './helpers';

const ctx: ProviderContext = { id: 'test', title: 'Test', keyEnv: 'TEST_API_KEY', secrets: [] };
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108020000009077', 'hex');

let server: Server;
let base: string;
let connections = 0;
let handler: (url: string, res: import('node:http').ServerResponse) => void;

beforeEach(async () => {
  connections = 0;
  server = createServer((req, res) => handler(req.url ?? '/', res));
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('provider HTTP client', () => {
  it('reuses one keep-alive connection for consecutive requests to an origin', async () => {
    handler = (_url, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    for (let i = 0; i < 5; i++) {
      const res = await requestJson({ ctx, phase: 'poll', method: 'GET', url: `${base}/status?i=${i}` });
      expect(res.body).toEqual({ ok: true });
    }
    expect(connections).toBe(1);
  });

  it('hashes a download as it arrives, following a redirect to the file', async () => {
    handler = (url, res) => {
      if (url === '/moved') res.writeHead(302, { location: '/file.png' }).end();
      else res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
    };
    const image = await downloadImage(ctx, `${base}/moved`, { taskId: 't1' });
    expect(image.mime).toBe('image/png');
    expect(image.bytes.equals(PNG)).toBe(true);
    expect(image.sha256).toBe(createHash('sha256').update(PNG).digest('hex'));
  });

  it('stops a result download that streams past 20 MB, without waiting for its end', async () => {
    let sent = 0;
    // Never ends, and announces no length: only a cap counted while streaming stops it.
    handler = (_url, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      const chunk = Buffer.alloc(256 * 1024, 1);
      const more = () => {
        while (!res.destroyed) {
          const room = res.write(chunk);
          sent += chunk.length;
          if (!room) return void res.once('drain', more);
        }
      };
      more();
    };
    const e = (await caught(downloadImage(ctx, `${base}/huge.png`, { taskId: 't2', attempts: 1 }))) as import('../../engine/core/errors').EngineError;
    expect(e).toMatchObject({ code: 'provider_failed', details: { retryable: false, taskId: 't2' } });
    expect(e.message).toMatch(/over 20(\.\d)? MB, above the 20 MB cap for result downloads/);
    expect(sent).toBeGreaterThan(RESULT_MAX_BYTES - 1024 * 1024);
  });

  it('refuses at once a result whose Content-Length is above the cap', async () => {
    handler = (_url, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': 50_000 }).end(Buffer.alloc(50_000));
    const e = (await caught(downloadImage(ctx, `${base}/big.png`, { taskId: 't3', attempts: 1, maxBytes: 10_000 }))) as import('../../engine/core/errors').EngineError;
    expect(e.message).toMatch(/announced as 49 KB, above the 10 KB cap for result downloads; not taken/);
    expect(e.details.retryable).toBe(false);
  });

  it('cuts off a result download that trickles on past its time limit', async () => {
    let timer: NodeJS.Timeout | undefined;
    // One byte every 20 ms: the inactivity timeout never fires, the deadline does.
    handler = (_url, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      timer = setInterval(() => res.write(Buffer.from([0])), 20);
      res.on('close', () => clearInterval(timer));
    };
    const e = (await caught(downloadImage(ctx, `${base}/slow.png`, { taskId: 't4', attempts: 1, deadlineMs: 300 }))) as import('../../engine/core/errors').EngineError;
    clearInterval(timer);
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/not done within 0\.3 s/);
  });

  it('reads Retry-After from a refused request', async () => {
    handler = (_url, res) => res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' }).end('{"detail":"slow down"}');
    const res = await requestJson({ ctx, phase: 'poll', method: 'GET', url: `${base}/x` });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('times a request out when the server never answers, as an ambiguous submit', async () => {
    handler = () => undefined;
    const e = (await caught(requestJson({ ctx, phase: 'submit', method: 'POST', url: `${base}/submit`, json: {}, timeoutMs: 50 }))) as import('../../engine/core/errors').EngineError;
    expect(e.code).toBe('ambiguous_submit');
    expect(e.message).toMatch(/no answer within/);
  });

  it('stops a request at once when the run is cancelled', async () => {
    handler = () => undefined;
    const ac = new AbortController();
    const p = caught(requestJson({ ctx, phase: 'poll', method: 'GET', url: `${base}/hang`, signal: ac.signal }));
    setTimeout(() => ac.abort(), 20);
    const e = (await p) as import('../../engine/core/errors').EngineError;
    expect(e.code).toBe('aborted');
  });

  it('keeps the answer to a submit when the event loop was blocked past the keep-alive timeout of the server (a paid task is never a false alarm)', async () => {
    // On a kept-alive connection the server would close it while the answer waits unread, and
    // the reset would discard the answer: a submit that went through would read as ambiguous.
    server.keepAliveTimeout = 2_000;
    handler = (_url, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"t"}');
    await requestJson({ ctx, phase: 'submit', method: 'POST', url: `${base}/submit`, json: {} });
    const second = requestJson({ ctx, phase: 'submit', method: 'POST', url: `${base}/submit`, json: {} });
    setImmediate(() => {
      const t = Date.now();
      while (Date.now() - t < 3_200);
    });
    expect((await second).body).toEqual({ id: 't' });
  });
});
