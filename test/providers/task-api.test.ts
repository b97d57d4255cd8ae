/**
 * The shared task-API skeleton (issue 10): a fifth task-style provider is one short table, and the
 * skeleton gives it submit, status polling, the status map, the error map, callbacks and the
 * download, over real HTTP against a small server that speaks its made-up protocol.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EngineError } from '../../engine/core/errors';
import { unsignedVerifier } from '../../engine/providers/callbacks';
import { isRecord } from '../../engine/providers/http';
import { createTaskApiProvider, messageError, type TaskApi } from '../../engine/providers/task-api';
import { caught, FAST_POLL, fixtures, request, type Fixtures } from './helpers';

/** "acme": POST /v2/jobs {engine, text, refs} → {job: {ref}}; GET /v2/jobs/<ref> → {job: {phase, output, problem}}. */
const acme: TaskApi = {
  id: 'acme',
  title: 'Acme Images',
  keyEnv: 'ACME_TOKEN',
  defaultBaseUrl: 'https://api.acme.invalid',
  capabilities: { models: ['flex'], honours: { flex: ['prompt', 'references', 'seed'] }, maxReferences: 2, referencesMustBeUrls: true, defaultConcurrency: 4, mapSize: (width, height) => ({ width, height }) },
  auth: (key) => ({ 'x-acme-token': key }),
  paths: { submit: (model) => `/v2/jobs?engine=${model}`, status: (id) => `/v2/jobs/${encodeURIComponent(id)}` },
  model: (model) => (model === 'flex' ? 'flux2-flex' : undefined),
  body: (req, urls) => ({ text: req.prompt, refs: urls, ...(req.seed !== undefined ? { seed: req.seed } : {}) }),
  withCallback: (b, url) => void (b.notify = url),
  taskId: (a) => (isRecord(a) && isRecord(a.job) && typeof a.job.ref === 'string' ? a.job.ref : undefined),
  record: { status: (a) => (isRecord(a) ? a.job : undefined), callback: (b) => b },
  read: (rec) => (isRecord(rec) && typeof rec.phase === 'string' ? { status: rec.phase, ...(typeof rec.output === 'string' ? { url: rec.output } : {}), ...(typeof rec.problem === 'string' ? { failure: rec.problem } : {}) } : {}),
  terminal: { finished: 'done', broken: 'failed' },
  moderation: /unsafe/i,
  errors: {
    bodyCode: false,
    read: messageError(['text', 'refs']),
    codes: { 499: { code: 'insufficient_credits', retryable: false, message: (said) => `: out of tokens (${said})` } },
  },
  verifier: unsignedVerifier((b) => (isRecord(b) ? b.ref : undefined)),
};

interface Job {
  phase: string;
  polls: number;
  prompt: string;
}

let server: Server;
let base = '';
let png: Buffer;
let fx: Fixtures;
const jobs = new Map<string, Job>();
const seen: { method: string; url: string; token?: string; body?: unknown }[] = [];

beforeAll(async () => {
  png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
  fx = await fixtures();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      seen.push({ method: req.method ?? '', url: req.url ?? '', token: req.headers['x-acme-token'] as string | undefined, body });
      const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.url === '/out.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      if (req.headers['x-acme-token'] !== 'good') return json(401, { message: 'bad token' });
      if (req.method === 'POST') {
        const prompt = String(body?.text ?? '');
        if (prompt.includes('[broke]')) return json(499, { message: 'no tokens left' });
        if (prompt.length < 2) return json(422, { message: 'text is too short' });
        const ref = `job-${jobs.size + 1}`;
        jobs.set(ref, { phase: 'queued', polls: 0, prompt });
        return json(200, { job: { ref } });
      }
      const job = jobs.get(decodeURIComponent((req.url ?? '').slice('/v2/jobs/'.length)));
      if (!job) return json(404, { message: 'no such job' });
      job.polls++;
      if (job.polls < 3) return json(200, { job: { phase: job.polls === 1 ? 'queued' : 'running' } });
      if (job.prompt.includes('[unsafe]')) return json(200, { job: { phase: 'broken', problem: 'unsafe content' } });
      return json(200, { job: { phase: 'finished', output: `${base}/out.png` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await fx.close();
});
beforeEach(() => {
  seen.length = 0;
  jobs.clear();
});

const provider = (key = 'good') => createTaskApiProvider(acme, { apiKey: key, baseUrl: base, poll: FAST_POLL });
const signal = () => new AbortController().signal;

describe('a fifth task-style provider as one table', () => {
  it('submits with its auth header and field mapping, polls through pending statuses, downloads the result', async () => {
    const p = provider();
    const task = await p.submit(request({ references: [fx.urlRef()] }), { signal: signal() });
    expect(task).toMatchObject({ provider: 'acme', taskId: 'job-1', seed: 7 });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v2/jobs?engine=flux2-flex', token: 'good', body: { text: 'a lighthouse at dawn', refs: [fx.url], seed: 7 } });
    const statuses: string[] = [];
    const image = await p.wait(task, { signal: signal(), onProgress: (_f, s) => statuses.push(s) });
    expect(image.bytes.equals(png)).toBe(true);
    expect(image.resultUrl).toBe(`${base}/out.png`);
    expect(statuses).toContain('running');
    expect(jobs.get('job-1')!.polls).toBe(3);
  });

  it('maps its errors: the key, its own code, a named parameter, a moderated and a failed task', async () => {
    const auth = (await caught(provider('bad').submit(request(), { signal: signal() }))) as EngineError;
    expect(auth).toMatchObject({ code: 'auth', message: expect.stringContaining('ACME_TOKEN') });
    const broke = (await caught(provider().submit(request({ prompt: 'x [broke]' }), { signal: signal() }))) as EngineError;
    expect(broke).toMatchObject({ code: 'insufficient_credits', message: 'Acme Images: out of tokens (no tokens left)' });
    const short = (await caught(provider().submit(request({ prompt: 'x' }), { signal: signal() }))) as EngineError;
    expect(short).toMatchObject({ code: 'provider_rejected', details: { param: 'text' } });
    const p = provider();
    const unsafe = (await caught(p.wait(await p.submit(request({ prompt: 'a cat [unsafe]' }), { signal: signal() }), { signal: signal() }))) as EngineError;
    expect(unsafe).toMatchObject({ code: 'moderated', details: { taskId: 'job-1' } });
  });

  it('refuses a local reference before sending anything, and a model it lacks', async () => {
    const local = (await caught(provider().submit(request({ references: [fx.localRef()] }), { signal: signal() }))) as EngineError;
    expect(local.code).toBe('needs_public_url');
    const max = (await caught(provider().submit(request({ model: 'max' }), { signal: signal() }))) as EngineError;
    expect(max.code).toBe('unsupported_model');
    expect(seen).toEqual([]);
  });
});
