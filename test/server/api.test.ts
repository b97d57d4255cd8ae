import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRegistry, type NodeDescriptor } from '../../engine/core/describe';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import type { ProvidersResponse, RunRecord, RunsResponse, StartRunResponse, ValidateResponse } from '../../editor/api/types';
import { readEvents, request, SECRET, seenBodies, startTestServer } from './helpers';

const example = JSON.parse(readFileSync(resolve(__dirname, '../../examples/draft-then-refine.json'), 'utf8')) as Pipeline;

const small = (text = 'a red kite over a field'): Pipeline => ({
  version: 1,
  name: 'small',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text } },
    { id: 'drafts', type: 'flux-flex-generate', params: { count: 2, steps: 4, width: 256, height: 256, seed: 1 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('the editor API', () => {
  it('serves the node catalog derived from the node declarations', async () => {
    const res = await request(server, 'GET', '/api/nodes');
    expect(res.status).toBe(200);
    const nodes = res.json<NodeDescriptor[]>();
    expect(nodes).toEqual(describeRegistry(createRegistry()));
    expect(nodes.map((n) => n.type)).toEqual(expect.arrayContaining(['prompt', 'reference-image', 'flux-flex-generate', 'flux-max-refine', 'pick-images', 'save-image']));
    const flex = nodes.find((n) => n.type === 'flux-flex-generate')!;
    expect(flex.inputs.map((p) => p.name)).toEqual(['prompt', 'references']);
    expect(flex.params.find((p) => p.name === 'steps')).toMatchObject({ type: 'integer', minimum: 1, maximum: 50, default: 50 });
  });

  it('says which providers have keys without ever sending a key', async () => {
    const res = await request(server, 'GET', '/api/providers');
    expect(res.status).toBe(200);
    const body = res.json<ProvidersResponse>();
    expect(body.providers.map((p) => [p.id, p.hasKey])).toEqual([
      ['bfl', true],
      ['kie', false],
      ['novita', false],
      ['crun', false],
    ]);
    expect(body.embeddedEmulator).toBe(true);
    expect(res.text).not.toContain(SECRET);
  });

  it('validates a pipeline and names the node of each issue', async () => {
    const ok = await request(server, 'POST', '/api/validate', { body: { pipeline: example } });
    expect(ok.status).toBe(200);
    expect(ok.json<ValidateResponse>().ok).toBe(true);

    const broken = { ...small(), nodes: small().nodes.map((n) => (n.id === 'drafts' ? { ...n, params: { steps: 80 } } : n)), edges: [small().edges[1]] };
    const res = await request(server, 'POST', '/api/validate', { body: { pipeline: broken } });
    const body = res.json<ValidateResponse>();
    expect(body.ok).toBe(false);
    expect(body.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'invalid_param', nodeId: 'drafts', param: 'steps' }),
        expect.objectContaining({ code: 'missing_input', nodeId: 'drafts', port: 'prompt' }),
      ]),
    );
  });

  it('runs a pipeline, streams its events, serves its images and thumbnails, and records it', async () => {
    const started = await request(server, 'POST', '/api/runs', { body: { pipeline: example } });
    expect(started.status).toBe(201);
    const { runId } = started.json<StartRunResponse>();
    const { events, ids } = await readEvents(server, runId);
    expect(events[0].type).toBe('runStart');
    const done = events.at(-1) as { type: string; summary: { status: string } };
    expect(done.type).toBe('runDone');
    expect(done.summary.status).toBe('done');
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const nodeDone = events.filter((e) => e.type === 'nodeDone').map((e) => [e.nodeId, e.status]);
    expect(Object.fromEntries(nodeDone)).toEqual({ idea: 'done', drafts: 'done', 'save-drafts': 'done', pick: 'done', refine: 'done', save: 'done' });

    const record = (await request(server, 'GET', `/api/runs/${runId}`)).json<RunRecord>();
    expect(record.status).toBe('done');
    expect(record.images.filter((i) => i.nodeId === 'drafts')).toHaveLength(4);
    expect(record.images.filter((i) => i.nodeId === 'refine').map((i) => i.item).sort()).toEqual([0, 2]);
    expect(record.imagesWritten.length).toBe(6);
    for (const file of record.imagesWritten) expect(existsSync(file)).toBe(true);
    expect(record.imagesWritten[0].startsWith(resolve(server.cwd, 'out'))).toBe(true);

    const hash = record.images[0].hash;
    const image = await request(server, 'GET', `/api/images/${hash}`);
    expect(image.status).toBe(200);
    expect(image.headers['content-type']).toMatch(/^image\/(jpeg|png|webp)$/);
    expect(image.headers['cache-control']).toContain('immutable');
    const thumb = await request(server, 'GET', `/api/images/${hash}/thumb?size=96`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    expect(Number(thumb.headers['content-length'])).toBeLessThan(Number(image.headers['content-length']));

    const history = (await request(server, 'GET', '/api/runs')).json<RunsResponse>();
    expect(history.runs[0]).toMatchObject({ runId, status: 'done', pipeline: 'draft-then-refine' });
  });

  it('records runs in the CLI’s ledger and, asked to, reuses a run’s seeds so unchanged drafts come from the cache', async () => {
    const unseeded = small();
    unseeded.nodes[1] = { ...unseeded.nodes[1], params: { count: 2, steps: 4, width: 256, height: 256 } };
    const hashes = async (body: Record<string, unknown>) => {
      const { runId } = (await request(server, 'POST', '/api/runs', { body })).json<StartRunResponse>();
      const { events } = await readEvents(server, runId);
      const done = events.at(-1) as unknown as { summary: { cached?: number; costUsd: number } };
      const images = (await request(server, 'GET', `/api/runs/${runId}`)).json<RunRecord>().images;
      return { runId, cached: done.summary.cached ?? 0, cost: done.summary.costUsd, hashes: images.map((i) => `${i.item}:${i.hash}`).sort() };
    };
    const first = await hashes({ pipeline: unseeded });
    const again = await hashes({ pipeline: unseeded, seedsFrom: first.runId });
    const fresh = await hashes({ pipeline: unseeded });
    expect(first.cached).toBe(0);
    expect(first.cost).toBeGreaterThan(0);
    expect(again.hashes).toEqual(first.hashes);
    expect(again.cached).toBe(2);
    expect(again.cost).toBe(0);
    expect(fresh.hashes).not.toEqual(first.hashes);

    const ledger = Ledger.open(join(server.cwd, '.fluxgraph', 'ledger.sqlite'));
    try {
      expect(ledger.getRun(first.runId)).toMatchObject({ status: 'done', name: 'small' });
    } finally {
      ledger.close();
    }
  });

  it('replays only the events after Last-Event-ID to a reconnecting client', async () => {
    const { runId } = (await request(server, 'POST', '/api/runs', { body: { pipeline: small() } })).json<StartRunResponse>();
    const all = await readEvents(server, runId);
    const rest = await readEvents(server, runId, undefined, { 'last-event-id': String(all.ids[2]) });
    expect(rest.ids[0]).toBeGreaterThan(all.ids[2]);
    expect(rest.events.at(-1)?.type).toBe('runDone');
  });

  it('refuses to run an invalid pipeline, with every issue', async () => {
    const res = await request(server, 'POST', '/api/runs', { body: { pipeline: { ...small(), edges: [] } } });
    expect(res.status).toBe(422);
    const body = res.json<{ error: { code: string }; issues: { code: string; nodeId?: string }[] }>();
    expect(body.error.code).toBe('invalid_pipeline');
    expect(body.issues.filter((i) => i.code === 'missing_input').map((i) => i.nodeId).sort()).toEqual(['drafts', 'save']);
  });

  it('cancels a running pipeline, and allows one run at a time meanwhile', async () => {
    server.host.emulator!.setLatency(60_000);
    try {
      // A prompt no other test uses: nothing cached, so the run waits on the (slow) emulator.
      const { runId } = (await request(server, 'POST', '/api/runs', { body: { pipeline: small('a slow kite, never cached') } })).json<StartRunResponse>();
      const second = await request(server, 'POST', '/api/runs', { body: { pipeline: small() } });
      expect(second.status).toBe(409);
      let cancelled: Promise<unknown> | undefined;
      const { events } = await readEvents(server, runId, (e) => {
        if (e.type === 'nodeStart' && e.nodeId === 'drafts' && !cancelled) {
          cancelled = request(server, 'POST', `/api/runs/${runId}/cancel`, { body: {} });
        }
      });
      const res = (await cancelled) as { status: number; json(): { cancelled: boolean } };
      expect(res.status).toBe(200);
      expect(res.json().cancelled).toBe(true);
      expect((events.at(-1) as unknown as { summary: { status: string } }).summary.status).toBe('cancelled');
      expect((await request(server, 'GET', `/api/runs/${runId}`)).json<RunRecord>().status).toBe('cancelled');
    } finally {
      server.host.emulator!.setLatency(0);
    }
  });

  it.each([
    ['an unknown run', 'GET', '/api/runs/nope', 404],
    ['events of an unknown run', 'GET', '/api/runs/nope/events', 404],
    ['a malformed image hash', 'GET', '/api/images/xyz', 400],
    ['a missing image', 'GET', `/api/images/${'a'.repeat(64)}`, 404],
    ['an unknown route', 'GET', '/api/nope', 404],
    ['a wrong method', 'DELETE', '/api/nodes', 405],
  ])('answers %s with %s', async (_, method, path, status) => {
    const res = await request(server, method, path);
    expect(res.status).toBe(status);
    expect(res.json<{ error: { code: string } }>().error.code).toBeTruthy();
  });
});

describe('the API against other sites', () => {
  it('refuses a cross-origin POST and starts nothing', async () => {
    const before = (await request(server, 'GET', '/api/runs')).json<RunsResponse>().runs.length;
    const res = await request(server, 'POST', '/api/runs', { body: { pipeline: small() }, headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('forbidden_origin');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect((await request(server, 'GET', '/api/runs')).json<RunsResponse>().runs.length).toBe(before);
  });

  it.each([
    ['another port on localhost', { origin: 'http://localhost:3000' }],
    ['a null origin (sandboxed frame, file:)', { origin: 'null' }],
    ['a cross-site fetch without Origin', { 'sec-fetch-site': 'cross-site' }],
  ])('refuses a state change from %s', async (_, headers) => {
    const res = await request(server, 'POST', '/api/validate', { body: { pipeline: small() }, headers });
    expect(res.status).toBe(403);
  });

  it('accepts the editor’s own origin', async () => {
    const res = await request(server, 'POST', '/api/validate', { body: { pipeline: small() }, headers: { origin: `http://localhost:${server.port}`, 'sec-fetch-site': 'same-origin' } });
    expect(res.status).toBe(200);
  });

  it('refuses a cancel from another origin', async () => {
    const res = await request(server, 'POST', '/api/runs/anything/cancel', { body: {}, headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
  });

  it('refuses cross-site reads of the API', async () => {
    const res = await request(server, 'GET', '/api/runs', { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(res.status).toBe(403);
  });

  it.each([
    ['a rebinding domain', 'evil.example:80'],
    ['a rebinding domain on our port', 'attacker.example'],
    ['our address on another port', '127.0.0.1:1'],
  ])('refuses a foreign Host header: %s', async (_, host) => {
    for (const path of ['/api/nodes', '/api/providers', '/']) {
      const res = await request(server, 'GET', path, { headers: { host } });
      expect(res.status).toBe(403);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('forbidden_host');
    }
    const post = await request(server, 'POST', '/api/runs', { body: { pipeline: small() }, headers: { host: host.includes(':') ? host : `${host}:${server.port}` } });
    expect(post.status).toBe(403);
  });

  it('answers a CORS preflight with no CORS headers', async () => {
    const res = await request(server, 'OPTIONS', '/api/runs', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses bodies that are not JSON (a form post needs no preflight)', async () => {
    const res = await request(server, 'POST', '/api/runs', { rawBody: 'pipeline=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
  });

  it('refuses an oversized body', async () => {
    const big = JSON.stringify({ pipeline: { version: 1, nodes: [], name: 'x'.repeat(5 * 1024 * 1024) } });
    const res = await request(server, 'POST', '/api/validate', { rawBody: big, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
  });

  it('refuses malformed JSON', async () => {
    const res = await request(server, 'POST', '/api/validate', { rawBody: '{"pipeline": ', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
  });

  it('never sends the key, even when a user puts it into a prompt', async () => {
    const { runId } = (await request(server, 'POST', '/api/runs', { body: { pipeline: small(`a poster that says ${SECRET}`) } })).json<StartRunResponse>();
    const { events } = await readEvents(server, runId);
    expect(events.some((e) => JSON.stringify(e).includes('[redacted]'))).toBe(true);
    await request(server, 'GET', `/api/runs/${runId}`);
    await request(server, 'GET', '/api/runs');
    await request(server, 'POST', '/api/validate', { body: { pipeline: small(SECRET) } });
    await request(server, 'GET', '/api/info');
    expect(seenBodies.length).toBeGreaterThan(20);
    for (const body of seenBodies) expect(body).not.toContain(SECRET);
  });
});
