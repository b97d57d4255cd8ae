/**
 * Where providers.md marks a fact as uncertain [U], the emulator behaves either way and the
 * adapters must work with both (issue 10). Covered elsewhere: kie/crun error statuses
 * (contract.test.ts), crun's input shapes (crun-styles.test.ts), result URL lifetimes
 * (emulator/result-urls.test.ts). Here: BFL's webhook answer with or without polling_url, with
 * "Task not found" for the first polls as HTTP 200 or 404; novita's webhooks sent or not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorOptions } from '../../engine/emulator/types';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import { adapter, emulator, request } from './helpers';

const signal = () => new AbortController().signal;

let receiver: CallbackReceiver;
beforeAll(async () => {
  receiver = await CallbackReceiver.start();
});
afterAll(() => receiver.close());

describe.each([
  ['include', 200],
  ['include', 404],
  ['omit', 200],
  ['omit', 404],
] as const)('BFL webhook submit answered with polling_url: %s; "Task not found" as HTTP %i', (pollingUrl, notFoundStatus) => {
  it('is polled where it lives, and early "not found" answers count as pending', async () => {
    const opts: Partial<EmulatorOptions> = { bflWebhookPollingUrl: pollingUrl, bflNotFoundStatus: notFoundStatus, strictPollingHost: true };
    const emu = await emulator(opts);
    try {
      // No webhook arrives and the first two polls do not find the task: only polling the right host can finish it.
      emu.setFaults({ callback: { missing: 1 }, poll: { notFoundPolls: 2 } });
      const p = adapter('bfl', emu, { callbacks: receiver });
      const task = await p.submit(request(), { signal: signal() });
      expect(task.pollingUrl === undefined).toBe(pollingUrl === 'omit');
      const image = await p.wait(task, { signal: signal() });
      expect(image.bytes.length).toBeGreaterThan(100);
      expect(emu.stats().injected.poll.notFound).toBe(2);
      expect(emu.stats().submissions.bfl).toBe(1);
    } finally {
      await emu.close();
    }
  });
});

describe.each(['send', 'ignore'] as const)('novita webhooks: %s', (mode) => {
  it('the adapter asks for a webhook and finishes either way', async () => {
    const emu = await emulator({ novitaWebhooks: mode });
    try {
      const p = adapter('novita', emu, { callbacks: receiver });
      const image = await p.wait(await p.submit(request(), { signal: signal() }), { signal: signal() });
      expect(image.bytes.length).toBeGreaterThan(100);
      expect(emu.stats().callbacks.sent.novita).toBe(mode === 'send' ? 1 : 0);
    } finally {
      await emu.close();
    }
  });
});
