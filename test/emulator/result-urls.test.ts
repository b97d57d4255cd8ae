/**
 * Result URLs as each provider documents them (providers.md 1.7, 2.4, 3.2, 4): their shape and how
 * long they work. BFL: Azure SAS, 10 minutes; novita: presigned S3, 1 hour; kie: a plain URL, 24
 * hours [U: 14 days elsewhere]; crun: a plain URL, lifetime unpublished [U]. The adapters read the
 * expiry where the URL or the answer carries it and assume 10 minutes where not (issue 10).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import { RESULT_TTL_MS, type Emulator, type ProviderName } from '../../engine/emulator/types';
import { ASSUMED_RESULT_LIFETIME_MS } from '../../engine/providers/result-expiry';
import { adapter, request } from '../providers/helpers';
import { download, manualClock } from './helpers';

const clock = manualClock();
let em: Emulator;
beforeAll(async () => {
  em = await startEmulator({ latencyMs: 0, clock: clock.now, callbackRetryDelaysMs: [] });
});
afterAll(() => em.close());

const signal = () => new AbortController().signal;

async function generate(id: ProviderName) {
  const p = adapter(id, em);
  const task = await p.submit(request(), { signal: signal() });
  const before = Date.now();
  const image = await p.wait(task, { signal: signal() });
  return { image, before, after: Date.now() };
}

describe.each([
  ['bfl', /\?se=[^&]+&sp=r&sig=[0-9a-f]+$/],
  ['novita', /\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=\d{8}T\d{6}Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=[0-9a-f]+$/],
  ['kie', /\/delivery\/kie\/[0-9a-f]+\/result\.png$/],
  ['crun', /\/delivery\/crun\/[0-9a-f]+\/output\.png$/],
] as const)('%s result URLs', (id, shape) => {
  it('come in the documented shape and work for the documented time, then answer as expired', async () => {
    const { image } = await generate(id);
    const url = image.resultUrl!;
    expect(url).toMatch(shape);
    const start = clock.now();
    try {
      clock.advance(RESULT_TTL_MS[id] - 1000);
      expect((await download(url)).status).toBe(200);
      clock.advance(2000);
      const late = await download(url);
      expect(late.status).toBe(403);
    } finally {
      clock.advance(start - clock.now());
    }
  });
});

describe('what the adapters make of them', () => {
  it('BFL: the expiry signed into the URL (se=), completion + 10 minutes', async () => {
    const { image } = await generate('bfl');
    expect(image.resultExpiresAt).toBe(Math.floor((clock.now() + RESULT_TTL_MS.bfl) / 1000) * 1000);
  });

  it("novita: the answer's image_url_ttl (3600 s) from the download", async () => {
    const { image, before, after } = await generate('novita');
    expect(image.resultExpiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(image.resultExpiresAt).toBeLessThanOrEqual(after + 3_600_000);
  });

  it.each(['kie', 'crun'] as const)('%s: nothing in the URL, so the assumed 10 minutes', async (id) => {
    const { image, before, after } = await generate(id);
    expect(image.resultExpiresAt).toBeGreaterThanOrEqual(before + ASSUMED_RESULT_LIFETIME_MS);
    expect(image.resultExpiresAt).toBeLessThanOrEqual(after + ASSUMED_RESULT_LIFETIME_MS);
  });

  it('a per-provider lifetime overrides the documented one (kie=60 s)', async () => {
    const short = await startEmulator({ latencyMs: 0, clock: clock.now, resultTtlByProvider: { kie: 60_000 } });
    try {
      const p = adapter('kie', short);
      const image = await p.wait(await p.submit(request(), { signal: signal() }), { signal: signal() });
      clock.advance(61_000);
      expect((await download(image.resultUrl!)).status).toBe(403);
    } finally {
      await short.close();
    }
  });
});
