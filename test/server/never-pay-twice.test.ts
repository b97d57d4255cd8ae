/**
 * The editor's "never pay twice" routes over real HTTP: the estimate before a run (cached items
 * at $0), run to here (`only`), and opening the pipeline a saved image carries.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { EstimateResponse, ProvenanceResponse, RunRecord, StartRunResponse } from '../../editor/api/types';
import { readEvents, request, startTestServer } from './helpers';

const example = JSON.parse(readFileSync(resolve(__dirname, '../../examples/draft-then-refine.json'), 'utf8')) as Pipeline;

/** The example with a subject of its own (nothing cached yet) and, optionally, no seeds. */
function variant(subject: string, seeded = true): Pipeline {
  const doc = structuredClone(example);
  doc.name = `pay-twice-${subject.replace(/\W+/g, '-')}`;
  doc.settings = { ...doc.settings, variables: { subject } };
  for (const n of doc.nodes) {
    if (n.type === 'flux-flex-generate') n.params = { ...n.params, width: 256, height: 256 };
    if (!seeded) delete n.params.seed;
  }
  return doc;
}

let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

async function estimate(body: Record<string, unknown>): Promise<EstimateResponse> {
  const res = await request(server, 'POST', '/api/estimate', { body });
  expect(res.status, res.text).toBe(200);
  return res.json<EstimateResponse>();
}

async function run(body: Record<string, unknown>) {
  const started = await request(server, 'POST', '/api/runs', { body });
  expect(started.status, started.text).toBe(201);
  const { runId } = started.json<StartRunResponse>();
  const { events } = await readEvents(server, runId);
  const record = (await request(server, 'GET', `/api/runs/${runId}`)).json<RunRecord>();
  return { runId, events, record };
}

const byNode = (e: EstimateResponse) => Object.fromEntries(e.nodes.map((n) => [n.nodeId, { calls: n.calls, cached: n.cached, usd: n.usd }]));

describe('POST /api/estimate', () => {
  it('prices every provider call per node before a run, and the same calls at $0 once a run has made them', async () => {
    const doc = variant('an estimated lighthouse');
    const before = await estimate({ pipeline: doc });
    const nodes = byNode(before);
    expect(Object.keys(nodes).sort()).toEqual(['drafts', 'refine']);
    expect(nodes.drafts).toMatchObject({ calls: 4, cached: 0 });
    expect(nodes.refine).toMatchObject({ calls: 2, cached: 0 });
    expect(nodes.drafts.usd).toBeGreaterThan(0);
    expect(nodes.refine.usd).toBeGreaterThan(0);
    expect(before.totalUsd).toBeCloseTo(nodes.drafts.usd + nodes.refine.usd, 6);
    expect(before).toMatchObject({ calls: 6, cached: 0 });

    const { events } = await run({ pipeline: doc });
    const done = events.at(-1) as unknown as { summary: { costUsd: number; status: string } };
    expect(done.summary.status).toBe('done');
    // The estimate is what the emulator charged.
    expect(done.summary.costUsd).toBeCloseTo(before.totalUsd, 6);

    const after = await estimate({ pipeline: doc });
    expect(byNode(after)).toEqual({ drafts: { calls: 0, cached: 4, usd: 0 }, refine: { calls: 0, cached: 2, usd: 0 } });
    expect(after).toMatchObject({ totalUsd: 0, calls: 0, cached: 6 });

    // A changed refine is priced again; the drafts stay free.
    const changed = structuredClone(doc);
    changed.nodes.find((n) => n.id === 'refine')!.params.seed = 8;
    expect(byNode(await estimate({ pipeline: changed }))).toMatchObject({ drafts: { calls: 0, cached: 4 }, refine: { calls: 2, cached: 0 } });
  });

  it('counts the drafts of an unseeded pipeline as cached when the run would reuse an earlier run’s seeds', async () => {
    const doc = variant('an unseeded estimate', false);
    const first = await run({ pipeline: doc });
    expect(byNode(await estimate({ pipeline: doc }))).toMatchObject({ drafts: { calls: 4, cached: 0 } });
    const reused = await estimate({ pipeline: doc, seedsFrom: first.runId });
    expect(byNode(reused)).toMatchObject({ drafts: { calls: 0, cached: 4 }, refine: { calls: 0, cached: 2 } });
    expect(reused.totalUsd).toBe(0);
    // ...and the run does exactly that.
    const second = await run({ pipeline: doc, seedsFrom: first.runId });
    expect((second.events.at(-1) as unknown as { summary: { cached: number; costUsd: number } }).summary).toMatchObject({ cached: 6, costUsd: 0 });
  });

  it('estimates only the ancestors of `only`', async () => {
    const e = await estimate({ pipeline: variant('an estimate up to the pick'), only: ['pick'] });
    expect(byNode(e)).toEqual({ drafts: expect.objectContaining({ calls: 4 }) });
  });

  it.each([
    ['an invalid pipeline', { pipeline: { ...variant('x'), edges: [] } }, 422, 'invalid_pipeline'],
    ['an unknown provider', { pipeline: variant('x'), provider: 'nope' }, 400, 'unknown_provider'],
    ['an unknown node in only', { pipeline: variant('x'), only: ['nope'] }, 400, 'unknown_node'],
    ['only that is not a list', { pipeline: variant('x'), only: 'pick' }, 400, 'invalid_body'],
  ])('refuses %s', async (_, body, status, code) => {
    const res = await request(server, 'POST', '/api/estimate', { body });
    expect(res.status).toBe(status);
    expect(res.json<{ error: { code: string } }>().error.code).toBe(code);
  });
});

describe('run to here (POST /api/runs with only)', () => {
  it('runs only the node and its ancestors, reusing the upstream results of the pipeline’s last run', async () => {
    const doc = variant('a run to here', false);
    const full = await run({ pipeline: doc });
    const fullDrafts = full.record.images.filter((i) => i.nodeId === 'drafts').map((i) => i.hash).sort();

    // No seedsFrom: the latest run of the same pipeline lends its seeds, as `fluxgraph run --only` does.
    const partial = await run({ pipeline: doc, only: ['pick'] });
    const start = partial.events[0] as unknown as { type: string; nodes: { id: string }[] };
    expect(start.type).toBe('runStart');
    expect(start.nodes.map((n) => n.id).sort()).toEqual(['drafts', 'idea', 'pick']);
    const finished = partial.events.filter((e) => e.type === 'nodeDone').map((e) => e.nodeId);
    expect(finished.sort()).toEqual(['drafts', 'idea', 'pick']);
    expect(partial.record).toMatchObject({ status: 'done', only: ['pick'], imagesWritten: [] });
    const drafts = partial.record.images.filter((i) => i.nodeId === 'drafts');
    expect(drafts.map((i) => i.hash).sort()).toEqual(fullDrafts);
    expect(drafts.every((i) => i.cached)).toBe(true);
    const summary = (partial.events.at(-1) as unknown as { summary: { cached: number; costUsd: number } }).summary;
    expect(summary).toMatchObject({ cached: 4, costUsd: 0 });
  });

  it('refuses an unknown node and starts nothing', async () => {
    const res = await request(server, 'POST', '/api/runs', { body: { pipeline: variant('x'), only: ['nope'] } });
    expect(res.status).toBe(400);
    expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'unknown_node', message: expect.stringContaining('"nope"') });
  });
});

describe('POST /api/provenance', () => {
  it('returns the pipeline a saved image carries, with the seeds its run drew', async () => {
    const doc = variant('a provenance check', false);
    const { runId, record } = await run({ pipeline: doc });
    const file = record.imagesWritten.find((f) => /draft-1\.(jpg|png|webp)$/.test(f))!;
    expect(file).toBeTruthy();
    const sidecar = JSON.parse(readFileSync(file.replace(/\.\w+$/, '.json'), 'utf8')) as { seed: number; node: string; params: { seed: number } };

    const res = await request(server, 'POST', '/api/provenance', { rawBody: readFileSync(file), headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status, res.text).toBe(200);
    const body = res.json<ProvenanceResponse>();
    expect(body).toMatchObject({ runId, nodeId: 'drafts', item: 1, seed: sidecar.seed });
    const pipeline = body.pipeline as Pipeline;
    expect(pipeline.nodes.map((n) => n.id)).toEqual(doc.nodes.map((n) => n.id));
    const drafts = pipeline.nodes.find((n) => n.id === 'drafts')!;
    expect(drafts.params.seed).toBe(sidecar.params.seed);
    expect(sidecar.seed).toBe(sidecar.params.seed + 1);
    // It opens as it is: the server validates it like any pipeline.
    expect((await request(server, 'POST', '/api/validate', { body: { pipeline } })).json<{ ok: boolean }>().ok).toBe(true);
  });

  it('says clearly when an image carries no pipeline', async () => {
    const { record } = await run({ pipeline: variant('a bare image') });
    // The store holds the image as the provider sent it, without provenance.
    const bare = await fetch(`${server.url}/api/images/${record.images[0].hash}`);
    const bytes = Buffer.from(await bare.arrayBuffer());
    for (const rawBody of [bytes, Buffer.from('not an image at all')]) {
      const res = await request(server, 'POST', '/api/provenance', { rawBody, headers: { 'content-type': 'application/octet-stream' } });
      expect(res.status).toBe(422);
      expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({
        code: 'no_provenance',
        message: expect.stringContaining('this image carries no fluxgraph pipeline'),
      });
    }
  });

  it.each([
    ['a form post (no preflight needed)', 'application/x-www-form-urlencoded', 415],
    ['text/plain (no preflight needed)', 'text/plain', 415],
    ['an empty body', 'application/octet-stream', 400],
  ])('refuses %s', async (_, type, status) => {
    const res = await request(server, 'POST', '/api/provenance', { rawBody: type === 'application/octet-stream' ? '' : 'x', headers: { 'content-type': type } });
    expect(res.status).toBe(status);
  });

  it('refuses an image over its size limit', async () => {
    const small = await startTestServer({ maxImageBytes: 1024 });
    try {
      const res = await request(small, 'POST', '/api/provenance', { rawBody: Buffer.alloc(4096), headers: { 'content-type': 'application/octet-stream' } });
      expect(res.status).toBe(413);
    } finally {
      await small.close();
    }
  });
});

describe('the new routes against other sites', () => {
  it.each([
    ['/api/estimate', { body: { pipeline: example } }],
    ['/api/provenance', { rawBody: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } }],
  ] as const)('refuses a cross-origin POST to %s', async (path, options) => {
    const foreign: Record<string, string>[] = [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of foreign) {
      const res = await request(server, 'POST', path, { ...options, headers: { ...('headers' in options ? options.headers : {}), ...headers } });
      expect(res.status).toBe(403);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('forbidden_origin');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});
