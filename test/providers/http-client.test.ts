import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadImage, requestJson, type ProviderContext } from '../../engine/providers/http';
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
});
