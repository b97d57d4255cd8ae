/** API keys and webhook secrets never reach an error, a task ref or a result. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRequest } from '../../engine/core/provider';
import type { Emulator, ProviderName } from '../../engine/emulator/types';
import { createBflProvider } from '../../engine/providers/bfl';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import { createKieProvider } from '../../engine/providers/kie';
import { KIE_HMAC_KEY, PROVIDERS, adapter, caught, emulator, everythingIn, recordingServer, request } from './helpers';

const KEY = 'sk-FLUXGRAPH-distinctive-9f3a7c21e5';
const WRONG = 'sk-WRONG-distinctive-0b8d44e17a';
const signal = () => new AbortController().signal;

describe.each(PROVIDERS)('%s keeps keys out of everything it returns or throws', (id) => {
  let emu: Emulator;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    emu = await emulator({ validKeys: [KEY] });
    receiver = await CallbackReceiver.start();
  });
  afterAll(async () => {
    await emu.close();
    await receiver.close();
  });

  it('after a success and every kind of failure', async () => {
    const p = adapter(id, emu, { apiKey: KEY, callbacks: receiver });
    const outputs: unknown[] = [];
    const run = async (over: Partial<ImageRequest>, faults: Parameters<Emulator['setFaults']>[0] = {}, timeoutMs?: number) => {
      emu.setFaults(faults);
      try {
        const task = await p.submit(request(over), { signal: signal() });
        outputs.push(task);
        const { bytes: _bytes, ...rest } = await p.wait(task, { signal: signal(), ...(timeoutMs ? { timeoutMs } : {}) });
        outputs.push(rest);
      } catch (e) {
        outputs.push(e);
      }
    };
    await run({});
    await run({ prompt: 'x [moderate-request]' });
    await run({ prompt: 'x [fail]' });
    await run({ prompt: 'x [stuck]' }, {}, 100);
    await run({}, { submit: { insufficientCredits: 1 } });
    await run({}, { submit: { error5xx: 1 } });
    await run({}, { submit: { drop: 1 } });
    await run({}, { download: { expired: 1 } });
    await run({}, { poll: { error5xx: 0.5, drop: 0.3 } });
    await run({ prompt: '' });
    outputs.push(await caught(adapter(id, emu, { apiKey: WRONG }).submit(request(), { signal: signal() })));

    expect(outputs.length).toBeGreaterThan(10);
    const text = outputs.map(everythingIn).join('\n');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(WRONG);
    expect(text).not.toContain(KIE_HMAC_KEY);
    for (const s of receiver.allSecrets()) expect(text).not.toContain(s);
  });
});

describe('a provider that echoes the key back', () => {
  const echo = (id: ProviderName) =>
    recordingServer((r) => {
      const sent = String(r.headers['x-key'] ?? r.headers.authorization ?? '');
      return id === 'bfl' ? { status: 403, body: { detail: `Invalid key ${sent}` } } : { status: 401, body: { code: 401, msg: `bad token: ${sent}` } };
    });

  it.each(['bfl', 'kie'] as ProviderName[])('has the key scrubbed from the %s error message', async (id) => {
    const server = await echo(id);
    try {
      const p = id === 'bfl' ? createBflProvider({ apiKey: KEY, baseUrl: server.baseUrl }) : createKieProvider({ apiKey: KEY, baseUrl: server.baseUrl });
      const e = await caught(p.submit(request(), { signal: signal() }));
      expect((e as Error).message).toContain('***');
      expect(everythingIn(e)).not.toContain(KEY);
    } finally {
      await server.close();
    }
  });
});
