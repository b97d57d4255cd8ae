/**
 * BFL with webhooks against the real API's documented shapes (issue 10): a submit answered
 * without polling_url, failure text at the top level of a webhook payload, https-only webhooks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineError } from '../../engine/core/errors';
import type { Emulator } from '../../engine/emulator/types';
import { createProviders } from '../../engine/host/create-providers';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import { adapter, caught, emulator, recordingServer, request } from './helpers';

const signal = () => new AbortController().signal;

describe('BFL webhook submits', () => {
  let emu: Emulator;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    emu = await emulator({ bflWebhookPollingUrl: 'omit', strictPollingHost: true });
    receiver = await CallbackReceiver.start();
  });
  afterAll(async () => {
    await receiver.close();
    await emu.close();
  });

  it('without polling_url, the task is polled on the host that accepted the submit', async () => {
    // No webhook arrives: only polling the submit host can finish the task.
    emu.setFaults({ callback: { missing: 1 } });
    const p = adapter('bfl', emu, { callbacks: receiver });
    const task = await p.submit(request(), { signal: signal() });
    expect(task.pollingUrl).toBeUndefined();
    expect(task.extra?.pollHost).toBe(new URL(emu.baseUrl).origin);
    const image = await p.wait(task, { signal: signal() });
    expect(image.bytes.length).toBeGreaterThan(100);
    expect(emu.stats().callbacks.missing).toBe(1);
    emu.setFaults({});
  });

  it('reads failure text at the top level of a webhook payload', async () => {
    // Every poll fails, so only the (verified) webhook can settle the task.
    emu.setFaults({ poll: { error5xx: 1 } });
    try {
      const p = adapter('bfl', emu, { callbacks: receiver, poll: { maxErrors: 1000, timeoutMs: 15_000 } });
      const task = await p.submit(request({ prompt: 'a vase [fail]' }), { signal: signal() });
      const e = (await caught(p.wait(task, { signal: signal() }))) as EngineError;
      expect(e.code).toBe('provider_failed');
      expect(e.message).toMatch(/failed: failed: Internal error during generation/);
    } finally {
      emu.setFaults({});
    }
  });
});

describe('BFL webhooks only go to https', () => {
  let bfl: Awaited<ReturnType<typeof recordingServer>>;
  beforeAll(async () => {
    bfl = await recordingServer((r, base) => ({ status: 200, body: { id: 't1', polling_url: `${base}/v1/get_result?id=t1` } }));
  });
  afterAll(() => bfl.close());

  const submitWith = async (callbackUrl: string) => {
    const notices: string[] = [];
    const host = await createProviders({ env: { BFL_API_KEY: 'k', BFL_BASE_URL: bfl.baseUrl, FLUXGRAPH_CALLBACK_URL: callbackUrl }, onNotice: (l) => notices.push(l) });
    try {
      bfl.seen.length = 0;
      await host.providers.get('bfl')!.submit(request(), { signal: signal() });
      return { body: bfl.seen[0].body as Record<string, unknown>, notices };
    } finally {
      await host.close();
    }
  };

  it('an http public URL: a warning at the start, and BFL is polled without a webhook_url', async () => {
    const { body, notices } = await submitWith('http://tunnel.example.net:8080');
    expect(body.webhook_url).toBeUndefined();
    expect(notices.filter((n) => /BFL sends webhooks only to https/.test(n))).toHaveLength(1);
  });

  it('an https or loopback public URL gets the webhook', async () => {
    for (const url of ['https://tunnel.example.net', 'http://127.0.0.1:9']) {
      const { body, notices } = await submitWith(url);
      expect(body.webhook_url).toBe(`${url}/callbacks/bfl`);
      expect(notices.join('\n')).not.toMatch(/only to https/);
    }
  });
});

describe('webp output', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await emulator();
  });
  afterAll(() => emu.close());

  it('BFL and crun return webp when asked; kie and novita are warned about instead (they choose their own format)', async () => {
    for (const id of ['bfl', 'crun'] as const) {
      const p = adapter(id, emu);
      expect(p.capabilities.honours.flex).toContain('outputFormat');
      const image = await p.wait(await p.submit(request({ outputFormat: 'webp' }), { signal: signal() }), { signal: signal() });
      expect(image.mime).toBe('image/webp');
    }
    for (const id of ['kie', 'novita'] as const) expect(adapter(id, emu).capabilities.honours.flex).not.toContain('outputFormat');
  });
});
