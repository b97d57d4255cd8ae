import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startTestServer } from './helpers';

let server: Awaited<ReturnType<typeof startTestServer>>;
let lan: Server;
let lanUrl = '';
const hits: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  // Stands for a LAN device or a local admin page a crafted pipeline points at.
  lan = createServer((req, res) => {
    hits.push(String(req.url));
    res.writeHead(200, { 'content-type': 'image/png' }).end('secret');
  });
  await new Promise<void>((r) => lan.listen(0, '127.0.0.1', r));
  lanUrl = `http://127.0.0.1:${(lan.address() as AddressInfo).port}/admin.png`;
});
afterAll(async () => {
  await server?.close();
  lan.closeAllConnections();
  await new Promise<void>((r) => lan.close(() => r()));
});

const crafted = () => ({
  version: 1,
  name: 'crafted',
  nodes: [
    { id: 'photo', type: 'reference-image', params: { source: lanUrl } },
    { id: 'idea', type: 'prompt', params: { text: 'x' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { count: 1, steps: 4, width: 256, height: 256, seed: 1 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'photo', sourceHandle: 'image', target: 'drafts', targetHandle: 'references' },
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

describe('the local server and pipeline URLs', () => {
  it('never fetches a reference URL for validate or the automatic estimate', async () => {
    hits.length = 0;
    expect((await request(server, 'POST', '/api/validate', { body: { pipeline: crafted() } })).status).toBe(200);
    const estimate = await request(server, 'POST', '/api/estimate', { body: { pipeline: crafted() } });
    expect(estimate.status).toBe(200);
    expect(estimate.json<{ assumed?: string[] }>().assumed).toEqual([lanUrl]);
    expect(hits).toEqual([]);
  });

  it('refuses a loopback reference URL in the pre-flight of a run: 422 naming the node, nothing fetched, no run started', async () => {
    hits.length = 0;
    const before = (await request(server, 'GET', '/api/runs')).json<{ runs: unknown[] }>().runs.length;
    const started = await request(server, 'POST', '/api/runs', { body: { pipeline: crafted() } });
    expect(started.status).toBe(422);
    const issue = started.json<{ issues: { nodeId?: string; message: string }[] }>().issues.find((i) => i.nodeId === 'photo');
    expect(issue?.message).toMatch(/127\.0\.0\.1 is a loopback address; reference URLs must be public/);
    expect(hits).toEqual([]);
    expect((await request(server, 'GET', '/api/runs')).json<{ runs: unknown[] }>().runs.length).toBe(before);
  });
});
