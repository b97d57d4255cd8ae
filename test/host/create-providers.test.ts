import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import type { Emulator } from '../../engine/emulator/types';
import { createProviders } from '../../engine/host/create-providers';
import { caught, emulator, request, until } from '../providers/helpers';

const signal = () => new AbortController().signal;

describe('createProviders', () => {
  it('starts the embedded emulator when no key is set, says so once, and generates through it', async () => {
    const notices: string[] = [];
    const host = await createProviders({ env: {}, onNotice: (l) => notices.push(l), poll: { intervalMs: 10, maxIntervalMs: 20 } });
    try {
      expect(host.embedded).toBe(true);
      expect(host.emulatorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toContain(host.emulatorUrl!);
      expect(notices[0]).toMatch(/not FLUX/);
      expect(host.providers.defaultId).toBe('bfl');
      expect(host.providers.ids()).toEqual(['bfl', 'kie', 'novita', 'crun']);
      for (const id of host.providers.ids()) {
        const p = host.providers.get(id)!;
        const task = await p.submit(request({ model: 'flex' }), { signal: signal() });
        const result = await p.wait(task, { signal: signal() });
        expect(result.bytes.length).toBeGreaterThan(100);
      }
      // Every provider's completion callback reached the receiver, and the signed ones verified.
      await until(() => host.callbacks!.stats().accepted === 4);
      expect(host.callbacks!.stats().rejected).toBe(0);
      expect(host.secrets).toContain(host.emulator!.options.kieWebhookHmacKey);
    } finally {
      await host.close();
    }
  });

  describe('with real keys', () => {
    let emu: Emulator;
    beforeAll(async () => {
      emu = await emulator();
    });
    afterAll(() => emu.close());

    it('uses the keyed provider and base URL from the environment, without the emulator', async () => {
      const notices: string[] = [];
      const host = await createProviders({ env: { BFL_API_KEY: 'bfl-secret-key', BFL_BASE_URL: emu.baseUrl }, onNotice: (l) => notices.push(l), poll: { intervalMs: 10 } });
      try {
        expect(host.embedded).toBe(false);
        expect(host.emulatorUrl).toBeUndefined();
        expect(notices).toEqual([]);
        expect(host.providers.defaultId).toBe('bfl');
        expect(host.secrets).toContain('bfl-secret-key');
        const p = host.providers.get('bfl')!;
        const result = await p.wait(await p.submit(request(), { signal: signal() }), { signal: signal() });
        expect(result.bytes.length).toBeGreaterThan(100);
      } finally {
        await host.close();
      }
    });

    it('gives a provider without a key an adapter whose submit fails with auth naming its env var', async () => {
      const host = await createProviders({ env: { BFL_API_KEY: 'k', BFL_BASE_URL: emu.baseUrl } });
      try {
        const e = (await caught(host.providers.get('kie')!.submit(request(), { signal: signal() }))) as EngineError;
        expect(e.code).toBe('auth');
        expect(e.details.provider).toBe('kie');
        expect(e.message).toContain('KIE_API_KEY');
      } finally {
        await host.close();
      }
    });

    it('defaults to the only provider with a key', async () => {
      const host = await createProviders({ env: { CRUN_API_KEY: 'c', CRUN_BASE_URL: emu.baseUrl } });
      try {
        expect(host.providers.defaultId).toBe('crun');
      } finally {
        await host.close();
      }
    });
  });

  it('returns undefined for unknown provider ids', async () => {
    const host = await createProviders({ env: { BFL_API_KEY: 'k' } });
    try {
      expect(host.providers.get('midjourney')).toBeUndefined();
    } finally {
      await host.close();
    }
  });

  it('does not start the emulator when told never to', async () => {
    const host = await createProviders({ env: {}, emulator: 'never' });
    try {
      expect(host.embedded).toBe(false);
      const e = (await caught(host.providers.get('bfl')!.submit(request(), { signal: signal() }))) as EngineError;
      expect(e.code).toBe('auth');
      expect(e.message).toContain('BFL_API_KEY');
    } finally {
      await host.close();
    }
  });

  it('lists webhook secrets among the secrets when callbacks are on', async () => {
    const host = await createProviders({ env: {} });
    try {
      expect(host.callbacks).toBeDefined();
      expect(host.secrets.length).toBeGreaterThan(0);
    } finally {
      await host.close();
    }
  });
});
