/** The ledger's URL table and the expiry rules of issue 10. */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ImageAsset } from '../../engine/core/ports';
import type { Provider, ReferenceImage } from '../../engine/core/provider';
import { ReferenceDelivery } from '../../engine/refs/delivery';
import { ASSUMED_RESULT_LIFETIME_MS, expiryInUrl, resultUrlExpiry } from '../../engine/providers/result-expiry';
import { prepareSchema } from '../../engine/store/ledger-schema';
import { MemoryReferenceUrls, SqliteReferenceUrls } from '../../engine/store/reference-urls';

const HASH = 'a'.repeat(64);
const asset: ImageAsset = { hash: HASH, mime: 'image/png', width: 8, height: 8 };
const ref: ReferenceImage = { asset, read: async () => Buffer.from('png') };
const store = { put: async () => HASH, read: async () => Buffer.from('png'), has: async () => true, pathOf: () => '/dev/null' };

function urlOnly(extra: Partial<Provider> = {}): Provider {
  return {
    id: 'crun',
    title: 'crun.ai',
    capabilities: { models: ['flex'], honours: {}, maxReferences: 8, referencesMustBeUrls: true, defaultConcurrency: 1, mapSize: (width, height) => ({ width, height }) },
    submit: async () => {
      throw new Error('not here');
    },
    wait: async () => {
      throw new Error('not here');
    },
    ...extra,
  };
}
const call = { signal: new AbortController().signal };

/** A ledger's database in memory: reference_urls is one of its schema steps. */
function ledgerDb(): Database.Database {
  const db = new Database(':memory:');
  prepareSchema(db, ':memory:');
  return db;
}

describe('result URL expiry', () => {
  it('reads Azure SAS se=, S3 X-Amz-Date + X-Amz-Expires and S3 v2 Expires=', () => {
    expect(expiryInUrl('https://x.blob.core.windows.net/a.jpeg?se=2025-12-17T21%3A38%3A50Z&sig=abc')).toBe(Date.parse('2025-12-17T21:38:50Z'));
    expect(expiryInUrl('https://s3.example/a.png?X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-Signature=f')).toBe(Date.parse('2026-01-01T00:15:00Z'));
    expect(expiryInUrl('https://s3.example/a.png?Expires=1767225600&Signature=f')).toBe(1767225600_000);
    expect(expiryInUrl('https://kie.example/a.png')).toBeUndefined();
  });

  it('a published TTL wins; without one and without a signed expiry, 10 minutes after completion', () => {
    expect(resultUrlExpiry('https://n.example/a.png?se=2020-01-01T00:00:00Z', 1000, 3600)).toBe(1000 + 3_600_000);
    expect(resultUrlExpiry('https://kie.example/a.png', 1000)).toBe(1000 + ASSUMED_RESULT_LIFETIME_MS);
  });
});

describe('the ledger URL table', () => {
  it('keeps several URLs per image, best route and longest-lived first, only while valid', () => {
    const urls = new SqliteReferenceUrls(ledgerDb());
    const now = Date.now();
    urls.record({ hash: HASH, provider: 'kie', url: 'https://u/1', expiresAt: now + 60_000, route: 'upload' });
    urls.record({ hash: HASH, provider: 'crun', url: 'https://c/1', expiresAt: now + 30_000, route: 'provider-url' });
    urls.record({ hash: HASH, provider: 'crun', url: 'https://c/2', expiresAt: now + 90_000, route: 'provider-url' });
    expect(urls.find(HASH, now, undefined).map((u) => u.url)).toEqual(['https://c/2', 'https://c/1', 'https://u/1']);
    expect(urls.find(HASH, now + 70_000, undefined).map((u) => u.url)).toEqual(['https://c/2']);
    expect(urls.find('b'.repeat(64), now, undefined)).toEqual([]);
  });

  it("URLs of an earlier embedded-emulator process count as expired", () => {
    for (const urls of [new SqliteReferenceUrls(ledgerDb()), new MemoryReferenceUrls()]) {
      const at = Date.now() + 600_000;
      urls.record({ hash: HASH, provider: 'crun', url: 'http://127.0.0.1:1/old', expiresAt: at, route: 'provider-url', session: 'emulator-old' });
      urls.record({ hash: HASH, provider: 'crun', url: 'https://real.example/r', expiresAt: at, route: 'provider-url' });
      expect(urls.find(HASH, Date.now(), 'emulator-new').map((u) => u.url)).toEqual(['https://real.example/r']);
      expect(urls.find(HASH, Date.now(), 'emulator-old').map((u) => u.url).sort()).toEqual(['http://127.0.0.1:1/old', 'https://real.example/r']);
    }
  });
});

describe('ReferenceDelivery', () => {
  it('passes a provider URL on only while it stays valid for the margin, then uses the next way', async () => {
    const urls = new MemoryReferenceUrls();
    const uploads: string[] = [];
    const provider = urlOnly({
      uploadReference: async (image) => {
        uploads.push(image.hash);
        return { url: `https://upload.example/${image.hash}.png`, expiresAt: Date.now() + 86_400_000 };
      },
    });
    const delivery = new ReferenceDelivery({ urls, store, minValidMs: 5 * 60_000 });
    delivery.produced(HASH, 'crun', 'https://crun.example/r.png', Date.now() + 6 * 60_000);
    expect((await delivery.resolve(provider, [ref], call)).delivered).toEqual([{ hash: HASH, route: 'provider-url', host: 'crun.example' }]);

    const strict = new ReferenceDelivery({ urls, store, minValidMs: 7 * 60_000 });
    const warnings: string[] = [];
    const got = await strict.resolve(provider, [ref, ref], { ...call, onWarning: (m) => warnings.push(m) });
    expect(got.refs.map((r) => r.url)).toEqual([`https://upload.example/${HASH}.png`, `https://upload.example/${HASH}.png`]);
    expect(uploads).toEqual([HASH]);
    expect(warnings).toHaveLength(1);
  });

  it('with no way left, fails before any submit, naming the reference and the ways', async () => {
    const delivery = new ReferenceDelivery({ urls: new MemoryReferenceUrls(), store });
    const local = { ...ref, asset: { ...asset, meta: { source: 'photo.png' } } };
    await expect(delivery.resolve(urlOnly(), [local], call)).rejects.toMatchObject({
      code: 'needs_public_url',
      message: expect.stringMatching(/reference 1 \("photo.png"\).*FLUXGRAPH_REFERENCE_BUCKET.*FLUXGRAPH_PUBLIC_URL/s),
    });
  });

  it('FLUXGRAPH_REFERENCE_UPLOADS=off keeps the upload API unused', async () => {
    let uploaded = false;
    const provider = urlOnly({
      uploadReference: async () => {
        uploaded = true;
        return { url: 'https://u.example/x', expiresAt: Date.now() + 1e9 };
      },
    });
    const delivery = new ReferenceDelivery({ urls: new MemoryReferenceUrls(), store, uploads: false });
    await expect(delivery.resolve(provider, [ref], call)).rejects.toMatchObject({ code: 'needs_public_url', message: expect.stringMatching(/FLUXGRAPH_REFERENCE_UPLOADS=off/) });
    expect(uploaded).toBe(false);
  });
});
