import { describe, expect, it } from 'vitest';
import { parseEmulatorArgs, runEmulatorCommand } from '../../engine/cli/emulator-command';
import type { Emulator } from '../../engine/emulator/types';
import { getJson, postJson, solidPng } from './helpers';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) } };
}

describe('fluxgraph emulator flags', () => {
  it.each([
    [['--fault-429', '1.5'], '--fault-429 must be a probability from 0 to 1'],
    [['--port', '70000'], '--port must be an integer from 0 to 65535'],
    [['--latency=-5'], '--latency must be a number of milliseconds >= 0'],
    [['--error-status', 'maybe'], '--error-status must be one of mirror, http200'],
    [['--bfl-webhook-polling-url', 'sometimes'], '--bfl-webhook-polling-url must be one of include, omit'],
    [['--crun-input-style', 'urls'], '--crun-input-style must be one of img_urls, input_images'],
    [['--result-ttl', 'midjourney=5'], '--result-ttl must be seconds >= 0, or PROVIDER=seconds'],
    [['--result-ttl', 'kie=-1'], '--result-ttl must be seconds >= 0'],
    [['--upload-ttl', 'soon'], '--upload-ttl must be a number of seconds >= 0'],
    [['--bfl-not-found-status', '410'], '--bfl-not-found-status must be one of 200, 404'],
    [['--fault-phase', 'submit,upload'], '--fault-phase must be a comma-separated list of submit, poll, download'],
    [['--active-cap', '2.5'], '--active-cap must be an integer >= 0'],
    [['--status-5xx', '404'], '--status-5xx must be a status from 500 to 599'],
    [['--frobnicate'], 'unknown flag --frobnicate'],
    [['--latency'], '--latency needs a value'],
    [['extra'], 'unexpected argument'],
  ])('refuses %j with exit code 2 and a message naming the flag', async (argv, message) => {
    const c = capture();
    expect(await runEmulatorCommand(argv, c.io)).toBe(2);
    expect(c.err.join('')).toContain(message);
  });

  it('prints the flags with --help and exits 0', async () => {
    const c = capture();
    expect(await runEmulatorCommand(['--help'], c.io)).toBe(0);
    expect(c.out.join('')).toContain('--fault-429');
  });

  it('maps flags to emulator options and per-phase faults', () => {
    const { options } = parseEmulatorArgs([
      '--port', '0', '--latency', '50', '--fault-429', '0.2', '--retry-after', '3', '--fault-5xx', '0.05',
      '--fault-drop', '0.01', '--fault-phase', 'poll', '--moderation', '0.1', '--stuck', '0.02', '--result-ttl', '30',
      '--active-cap', '8', '--slow-poll', '100', '--drop-after-accept', '0.1', '--valid-key', 'a', '--valid-key', 'b',
      '--error-status', 'mirror', '--seed', '9',
    ]);
    expect(options).toMatchObject({
      port: 0,
      pollPort: 0,
      latencyMs: 50,
      resultTtlMs: 30_000,
      activeTaskCap: 8,
      validKeys: ['a', 'b'],
      errorStatusStyle: 'mirror',
      seed: 9,
      faults: {
        poll: { rate429: 0.2, retryAfterSec: 3, error5xx: 0.05, drop: 0.01, delayMs: 100 },
        submit: { dropAfterAccept: 0.1 },
        outcome: { moderateContent: 0.1, stuck: 0.02 },
      },
    });
    expect(options.faults?.submit?.rate429).toBeUndefined();
  });

  it('maps the flags of the newer modes to emulator options', () => {
    const { options } = parseEmulatorArgs([
      '--bfl-webhook-polling-url', 'omit', '--bfl-not-found-status', '404', '--not-found-polls', '2', '--crun-input-style', 'input_images',
      '--result-ttl', '900', '--result-ttl', 'kie=60', '--result-ttl', 'novita=7200', '--upload-ttl', '120', '--novita-webhooks', 'ignore', '--bfl-signature-header', 'X-Webhook-Signature',
    ]);
    expect(options).toMatchObject({
      bflWebhookPollingUrl: 'omit',
      bflNotFoundStatus: 404,
      crunInputStyle: 'input_images',
      resultTtlMs: 900_000,
      resultTtlByProvider: { kie: 60_000, novita: 7_200_000 },
      uploadTtlMs: 120_000,
      novitaWebhooks: 'ignore',
      bflSignatureHeader: 'X-Webhook-Signature',
      faults: { poll: { notFoundPolls: 2 } },
    });
    // Unset, each provider keeps its documented result URL lifetime.
    expect(parseEmulatorArgs([]).options.resultTtlMs).toBeUndefined();
  });

  it('puts the polling port next to the submit port by default', () => {
    expect(parseEmulatorArgs(['--port', '9100']).options).toMatchObject({ port: 9100, pollPort: 9101 });
  });
});

describe('fluxgraph emulator run', () => {
  it('serves until stopped, prints URLs and env vars, and exits 0', async () => {
    const c = capture();
    const stop = new AbortController();
    let em: Emulator | undefined;
    const done = runEmulatorCommand(['--port', '0', '--latency', '0', '--valid-key', 'secret-key'], {
      ...c.io,
      signal: stop.signal,
      onReady: (e) => {
        em = e;
      },
    });
    while (!em) await new Promise((r) => setTimeout(r, 5));
    const printed = c.out.join('');
    expect(printed).toContain(`BFL_BASE_URL=${em.baseUrl} BFL_API_KEY=secret-key`);
    expect(printed).toContain(`KIE_BASE_URL=${em.baseUrl}`);
    expect(printed).toContain(em.pollBaseUrl);
    const r = await postJson(`${em.baseUrl}/v1/flux-2-pro`, { prompt: 'x', width: 64, height: 64 }, { 'x-key': 'secret-key' });
    expect(r.status).toBe(200);
    expect((await getJson(r.json.polling_url, { 'x-key': 'secret-key' })).status).toBe(200);
    stop.abort();
    expect(await done).toBe(0);
    expect(c.out.join('')).toContain('emulator stopped: 1 tasks');
  });

  it('serves the newer modes it was started with, over HTTP, and prints them', async () => {
    const c = capture();
    const stop = new AbortController();
    let em: Emulator | undefined;
    const done = runEmulatorCommand(
      ['--port', '0', '--latency', '0', '--bfl-webhook-polling-url', 'omit', '--bfl-not-found-status', '404', '--not-found-polls', '1', '--crun-input-style', 'input_images', '--upload-ttl', '120'],
      { ...c.io, signal: stop.signal, onReady: (e) => (em = e) },
    );
    while (!em) await new Promise((r) => setTimeout(r, 5));
    try {
      const printed = c.out.join('');
      expect(printed).toContain(`KIE_UPLOAD_BASE_URL=${em.baseUrl}`);
      expect(printed).toContain('CRUN_INPUT_STYLE=input_images');
      expect(printed).toMatch(/without polling_url[\s\S]*HTTP 404[\s\S]*input_images input shape[\s\S]*uploads stay 120 s/);
      // BFL: a webhook submit comes back without polling_url; the first poll does not find it (404), the next does.
      const bfl = await postJson(`${em.baseUrl}/v1/flux-2-pro`, { prompt: 'x', width: 64, height: 64, webhook_url: 'https://hooks.example/bfl' }, { 'x-key': 'k' });
      expect(bfl.json.polling_url).toBeUndefined();
      const first = await getJson(`${em.baseUrl}/v1/get_result?id=${bfl.json.id}`, { 'x-key': 'k' });
      expect([first.status, first.json.status]).toEqual([404, 'Task not found']);
      expect((await getJson(`${em.baseUrl}/v1/get_result?id=${bfl.json.id}`, { 'x-key': 'k' })).status).toBe(200);
      // crun keeps input_images and drops img_urls (its echo shows what it kept).
      const crun = await postJson(`${em.baseUrl}/api/v1/client/job/CreateTask`, { model: 'flux-2-flex', input: { prompt: 'a kite', img_urls: [] } }, { 'x-api-key': 'k' });
      await getJson(`${em.baseUrl}/api/v1/client/job/TaskInfo?task_id=${crun.json.data.task_id}`, { 'x-api-key': 'k' });
      const info = await getJson(`${em.baseUrl}/api/v1/client/job/TaskInfo?task_id=${crun.json.data.task_id}`, { 'x-api-key': 'k' });
      expect(info.json.data.param.input).toEqual({ prompt: 'a kite' });
      // kie's upload API is on the same origin and serves the file at downloadUrl.
      const png = await solidPng(8, 8, [1, 2, 3]);
      const up = await postJson(`${em.baseUrl}/api/file-base64-upload`, { base64Data: png.toString('base64'), uploadPath: 'fluxgraph', fileName: 'a.png' }, { authorization: 'Bearer k' });
      expect(up.json).toMatchObject({ success: true, code: 200, data: { fileName: 'a.png' } });
      expect((await fetch(up.json.data.downloadUrl)).status).toBe(200);
    } finally {
      stop.abort();
      expect(await done).toBe(0);
    }
  });

  it('exits 1 with a hint when the port is taken', async () => {
    const stop = new AbortController();
    let em: Emulator | undefined;
    const first = runEmulatorCommand(['--port', '0'], { stdout: () => undefined, signal: stop.signal, onReady: (e) => (em = e) });
    while (!em) await new Promise((r) => setTimeout(r, 5));
    const c = capture();
    expect(await runEmulatorCommand(['--port', String(em.options.port), '--poll-port', '0'], c.io)).toBe(1);
    expect(c.err.join('')).toContain('port in use');
    stop.abort();
    await first;
  });
});
