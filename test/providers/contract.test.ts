/**
 * The contract every adapter keeps, checked over real HTTP against the emulator: results, each
 * failure class mapped to its code, retries on polls only, callbacks, no double submits.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import type { ImageRequest, TaskRef } from '../../engine/core/provider';
import type { Emulator, ErrorStatusStyle, ProviderName } from '../../engine/emulator/types';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import { FAST_POLL, adapter, caught, emulator, fixtures, request, until, type Fixtures } from './helpers';

const signal = () => new AbortController().signal;

/** A request each provider's API refuses as invalid, and the wire parameter it must name. */
const INVALID: Record<ProviderName, { req: Partial<ImageRequest>; param: string }> = {
  bfl: { req: { steps: 80 }, param: 'steps' },
  // (A short prompt is refused by the adapter itself now, before sending: test/cli/prompt-length.test.ts.)
  kie: {
    req: { references: [{ asset: { hash: 'b'.repeat(64), mime: 'image/png', width: 8, height: 8 }, url: 'http://127.0.0.1:9/missing.png', read: async () => Buffer.alloc(0) }] },
    param: 'input_urls',
  },
  novita: { req: { seed: -5 }, param: 'seed' },
  crun: { req: { prompt: '' }, param: 'prompt' },
};

const SIGNED: ProviderName[] = ['bfl', 'kie'];
const WITH_CALLBACKS: ProviderName[] = ['bfl', 'kie', 'novita', 'crun'];

/** kie and crun may answer errors with HTTP 200 and a body `code`, or mirror the code in the status [U]: both are run. */
const CASES: [string, ProviderName, ErrorStatusStyle][] = [
  ['bfl', 'bfl', 'mirror'],
  ['kie (errors as HTTP 200 + body code)', 'kie', 'http200'],
  ['kie (errors as HTTP status)', 'kie', 'mirror'],
  ['novita', 'novita', 'mirror'],
  ['crun (errors as HTTP 200 + body code)', 'crun', 'http200'],
  ['crun (errors as HTTP status)', 'crun', 'mirror'],
];

const emulators = {} as Record<ErrorStatusStyle, Emulator>;
let emu: Emulator;
let fx: Fixtures;
beforeAll(async () => {
  emulators.http200 = await emulator({ validKeys: ['test-key'], errorStatusStyle: 'http200' });
  emulators.mirror = await emulator({ validKeys: ['test-key'], errorStatusStyle: 'mirror' });
  emu = emulators.http200;
  fx = await fixtures();
});
afterAll(async () => {
  await emulators.http200.close();
  await emulators.mirror.close();
  await fx.close();
});
beforeEach(() => {
  for (const e of Object.values(emulators)) {
    e.reset();
    e.setFaults({});
  }
});

async function generate(id: ProviderName, over: Partial<ImageRequest> = {}, waitTimeoutMs?: number) {
  const p = adapter(id, emu);
  const task = await p.submit(request(over), { signal: signal() });
  return { task, result: await p.wait(task, { signal: signal(), ...(waitTimeoutMs ? { timeoutMs: waitTimeoutMs } : {}) }) };
}

async function failure(id: ProviderName, over: Partial<ImageRequest> = {}, waitTimeoutMs?: number): Promise<EngineError> {
  const e = await caught(generate(id, over, waitTimeoutMs));
  expect(e).toBeInstanceOf(EngineError);
  return e as EngineError;
}

function expectNoDoubleSubmit() {
  expect(emu.duplicateSubmissions()).toEqual([]);
}

describe.each(CASES)('%s adapter', (_label, id, style) => {
  beforeAll(() => {
    emu = emulators[style];
  });
  afterAll(() => {
    emu = emulators.http200;
  });

  it('generates an image from a prompt and returns a task ref that survives storage', async () => {
    const { task, result } = await generate(id);
    expect(['image/jpeg', 'image/png', 'image/webp']).toContain(result.mime);
    expect(result.bytes.length).toBeGreaterThan(100);
    expect(JSON.parse(JSON.stringify(task)) as TaskRef).toEqual(task);
    expect(task.provider).toBe(id);
    expect(emu.stats().submissions[id]).toBe(1);
    expect(emu.stats().downloads[id]).toBe(1);
  });

  it('resumes waiting on a stored task ref without submitting again', async () => {
    const p = adapter(id, emu);
    const task = await p.submit(request(), { signal: signal() });
    const stored = JSON.parse(JSON.stringify(task)) as TaskRef;
    const result = await adapter(id, emu).wait(stored, { signal: signal() });
    expect(result.bytes.length).toBeGreaterThan(100);
    expect(emu.stats().submitRequests[id]).toBe(1);
  });

  it('generates from a reference image given as a public URL', async () => {
    const { result } = await generate(id, { references: [fx.urlRef()] });
    expect(result.bytes.length).toBeGreaterThan(100);
  });

  it('sends a local reference as bytes, or refuses it with needs_public_url before sending anything', async () => {
    const p = adapter(id, emu);
    if (p.capabilities.referencesMustBeUrls) {
      const e = (await caught(p.submit(request({ references: [fx.localRef()] }), { signal: signal() }))) as EngineError;
      expect(e.code).toBe('needs_public_url');
      expect(e.message).toMatch(/public/);
      expect(emu.stats().submitRequests[id]).toBe(0);
    } else {
      const { result } = await generate(id, { references: [fx.localRef()] });
      expect(result.bytes.length).toBeGreaterThan(100);
    }
  });

  it('maps a refused key to auth, naming the env var', async () => {
    const e = (await caught(adapter(id, emu, { apiKey: 'wrong-key' }).submit(request(), { signal: signal() }))) as EngineError;
    expect(e.code).toBe('auth');
    expect(e.message).toContain(`${id.toUpperCase()}_API_KEY`);
    expect(emu.stats().submissions[id]).toBe(0);
  });

  it('maps a missing key to auth without sending anything', async () => {
    const e = (await caught(adapter(id, emu, { apiKey: undefined }).submit(request(), { signal: signal() }))) as EngineError;
    expect(e.code).toBe('auth');
    expect(e.message).toContain(`${id.toUpperCase()}_API_KEY`);
    expect(emu.stats().submitRequests[id]).toBe(0);
  });

  it('maps an empty balance to insufficient_credits', async () => {
    emu.setFaults({ submit: { insufficientCredits: 1 } });
    const e = await failure(id);
    expect(e.code).toBe('insufficient_credits');
    expect(emu.stats().submissions[id]).toBe(0);
  });

  it('maps a validation error to provider_rejected naming the refused parameter', async () => {
    const e = await failure(id, INVALID[id].req);
    expect(e.code).toBe('provider_rejected');
    expect(e.details.param).toBe(INVALID[id].param);
    expect(e.message).toContain(INVALID[id].param);
  });

  it.each([
    ['[moderate-request]', 'a request'],
    ['[moderate-content]', 'an output'],
  ])('maps %s moderation of %s to moderated', async (tag) => {
    const e = await failure(id, { prompt: `a lighthouse ${tag}` });
    expect(e.code).toBe('moderated');
    expect(e.details.provider).toBe(id);
    expect(e.details.retryable).toBe(false);
  });

  it('maps a failed generation to provider_failed with the task id', async () => {
    const e = await failure(id, { prompt: 'a lighthouse [fail]' });
    expect(e.code).toBe('provider_failed');
    expect(e.details.taskId).toBeTruthy();
  });

  it.each([
    ['a 429', { rate429: 1, retryAfterSec: 0 }, 'rate429'],
    ['a 5xx', { error5xx: 1 }, 'error5xx'],
    ['a 502 gateway page', { error5xx: 1, status5xx: 502 }, 'error5xx'],
    ['a dropped connection', { drop: 1 }, 'drop'],
  ] as const)('retries %s on a poll and still delivers the image', async (_label, poll, counter) => {
    const p = adapter(id, emu);
    const task = await p.submit(request(), { signal: signal() });
    emu.setFaults({ poll });
    // The fault holds until the poller has retried once, then clears: the result must still come.
    const result = await p.wait(task, { signal: signal(), onProgress: (_f, status) => status.startsWith('retrying') && emu.setFaults({}) });
    expect(result.bytes.length).toBeGreaterThan(100);
    expect(emu.stats().injected.poll[counter]).toBeGreaterThan(0);
    expect(emu.stats().submissions[id]).toBe(1);
  });

  it('retries a download cut off halfway', async () => {
    emu.setFaults({ download: { truncate: 0.6 } });
    const { result } = await generate(id);
    expect(result.bytes.length).toBeGreaterThan(100);
  });

  it('times out a task stuck pending, naming the task id', async () => {
    const p = adapter(id, emu);
    const task = await p.submit(request({ prompt: 'a lighthouse [stuck]' }), { signal: signal() });
    const e = (await caught(p.wait(task, { signal: signal(), timeoutMs: 200 }))) as EngineError;
    expect(e.code).toBe('timeout');
    expect(e.message).toContain(task.taskId);
    expect(e.details.taskId).toBe(task.taskId);
    expect(e.details).toMatchObject({ retryable: false, resumable: true });
    expect(emu.stats().submissions[id]).toBe(1);
  });

  it('maps an expired result URL to result_expired', async () => {
    emu.setFaults({ download: { expired: 1 } });
    const e = await failure(id);
    expect(e.code).toBe('result_expired');
    expect(e.details.taskId).toBeTruthy();
  });

  it('stops waiting at once when aborted', async () => {
    const p = adapter(id, emu, { poll: { intervalMs: 3_600_000, maxIntervalMs: 3_600_000 } });
    const task = await p.submit(request({ prompt: 'a lighthouse [stuck]' }), { signal: signal() });
    const ac = new AbortController();
    const e = (await caught(p.wait(task, { signal: ac.signal, onProgress: () => ac.abort() }))) as EngineError;
    expect(e.code).toBe('aborted');
  });

  describe('submit failures are never retried', () => {
    it('reports a response lost after the task was created as ambiguous_submit, once', async () => {
      emu.setFaults({ submit: { dropAfterAccept: 1 } });
      const e = await failure(id);
      expect(e.code).toBe('ambiguous_submit');
      expect(e.details.retryable).toBe(false);
      expect(emu.stats().submitRequests[id]).toBe(1);
      expect(emu.stats().submissions[id]).toBe(1);
    });

    it('reports a submit that gets no answer in time as ambiguous_submit', async () => {
      // Its own emulator: the slow request lingers after the client gave up.
      const slow = await emulator({ errorStatusStyle: style, faults: { submit: { delayMs: 400 } } });
      try {
        const e = (await caught(adapter(id, slow, { submitTimeoutMs: 50 }).submit(request(), { signal: signal() }))) as EngineError;
        expect(e.code).toBe('ambiguous_submit');
        expect(e.details.retryable).toBe(false);
      } finally {
        await slow.close();
      }
    });

    it.each([
      ['a dropped connection', { drop: 1 }],
      ['a 500', { error5xx: 1 }],
      ['a 502 gateway page', { error5xx: 1, status5xx: 502 }],
    ] as const)('reports %s on submit as ambiguous_submit', async (_label, submit) => {
      emu.setFaults({ submit });
      const e = await failure(id);
      expect(e.code).toBe('ambiguous_submit');
      expect(e.details.retryable).toBe(false);
      expect(emu.stats().submitRequests[id]).toBe(1);
    });

    it('reports a 429 on submit as rate_limited and retryable, with Retry-After', async () => {
      emu.setFaults({ submit: { rate429: 1, retryAfterSec: 3 } });
      const e = await failure(id);
      expect(e.code).toBe('rate_limited');
      expect(e.details.retryable).toBe(true);
      expect(e.details.retryAfterSec).toBe(3);
      expect(emu.stats().submitRequests[id]).toBe(1);
    });

    it('reports a wrong base URL as provider_rejected, pointing at the base URL', async () => {
      const e = (await caught(adapter(id, emu, { baseUrl: `${emu.baseUrl}/wrong` }).submit(request(), { signal: signal() }))) as EngineError;
      expect(e.code).toBe('provider_rejected');
      expect(e.message).toMatch(/base URL/);
      expect(emu.stats().submissions[id]).toBe(0);
    });

    it('reports a refused connection as network and retryable: nothing was sent', async () => {
      const closed = await emulator();
      const baseUrl = closed.baseUrl;
      await closed.close();
      const e = (await caught(adapter(id, emu, { baseUrl }).submit(request(), { signal: signal() }))) as EngineError;
      expect(e.code).toBe('network');
      expect(e.details.retryable).toBe(true);
    });

    it('never creates the same task twice across a whole run of failures', async () => {
      emu.setFaults({ submit: { dropAfterAccept: 0.5, error5xx: 0.2 }, poll: { error5xx: 0.3, drop: 0.2 } });
      const p = adapter(id, emu);
      for (let i = 0; i < 4; i++) {
        await p
          .submit(request({ prompt: `a lighthouse, variation ${i}` }), { signal: signal() })
          .then((t) => p.wait(t, { signal: signal() }))
          .catch(() => undefined);
      }
      expectNoDoubleSubmit();
    });
  });
});

describe.each(WITH_CALLBACKS)('%s callbacks', (id) => {
  let receiver: CallbackReceiver;
  beforeEach(async () => {
    receiver = await CallbackReceiver.start();
    return () => receiver.close();
  });

  it('completes a wait from the callback when no poll would come for an hour', async () => {
    const slow = { ...FAST_POLL, intervalMs: 3_600_000, maxIntervalMs: 3_600_000, timeoutMs: 7_200_000 };
    const p = adapter(id, emu, { callbacks: receiver, poll: slow });
    const task = await p.submit(request(), { signal: signal() });
    const result = await p.wait(task, { signal: signal() });
    expect(result.bytes.length).toBeGreaterThan(100);
    expect(receiver.stats().accepted).toBeGreaterThan(0);
    expect(emu.stats().callbacks.sent[id]).toBe(1);
  });

  it('delivers one result when the callback comes twice and polls also see the result', async () => {
    emu.setFaults({ callback: { duplicate: 1 } });
    const p = adapter(id, emu, { callbacks: receiver });
    const task = await p.submit(request(), { signal: signal() });
    const result = await p.wait(task, { signal: signal() });
    expect(result.bytes.length).toBeGreaterThan(100);
    await until(() => emu.stats().callbacks.delivered === 2);
    expect(emu.stats().downloads[id]).toBe(1);
    expect(emu.stats().submissions[id]).toBe(1);
  });
});

describe.each(SIGNED)('%s signed callbacks', (id) => {
  it('refuses a callback with a bad signature and still finishes by polling', async () => {
    const receiver = await CallbackReceiver.start();
    try {
      emu.setFaults({ callback: { badSignature: 1 } });
      const p = adapter(id, emu, { callbacks: receiver });
      const task = await p.submit(request(), { signal: signal() });
      const result = await p.wait(task, { signal: signal() });
      expect(result.bytes.length).toBeGreaterThan(100);
      await until(() => emu.stats().callbacks.failed === 1);
      expect(receiver.stats()).toEqual({ accepted: 0, rejected: 1 });
    } finally {
      await receiver.close();
    }
  });
});
