/** Way 4 of issue 10: signed links to local references on fluxgraph's callback receiver. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../engine/core/store';
import { CallbackReceiver } from '../../engine/providers/callbacks';
import { MAX_LINK_TTL_MS, PublicReferenceLinks } from '../../engine/refs/public-server';
import { solidPng } from '../emulator/helpers';

let receiver: CallbackReceiver;
let png: Buffer;
const HASH = 'c'.repeat(64);
const OTHER = 'd'.repeat(64);
let now = Date.now();
let links: PublicReferenceLinks;
const store: ArtifactStore = {
  put: async () => HASH,
  read: async (h) => {
    if (h !== HASH && h !== OTHER) throw new Error('no such image');
    return png;
  },
  has: async () => true,
  pathOf: () => '/dev/null',
};

beforeAll(async () => {
  png = await solidPng(8, 8, [10, 200, 10]);
  receiver = await CallbackReceiver.start();
  links = new PublicReferenceLinks(receiver.localUrl, MAX_LINK_TTL_MS, () => now);
  receiver.mount((req, res) => links.handle(req, res));
});
afterAll(() => receiver.close());

describe('public reference links', () => {
  it('serve the image a run handed out, signed and expiring within an hour', async () => {
    const link = links.link(HASH, store);
    expect(link.expiresAt).toBeLessThanOrEqual(now + MAX_LINK_TTL_MS);
    const res = await fetch(link.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
  });

  it('refuse a bad signature, a signature for another image, an expired link and a listing', async () => {
    const link = new URL(links.link(HASH, store).url);
    const tampered = new URL(link);
    tampered.searchParams.set('sig', `${link.searchParams.get('sig')!.slice(0, -2)}xx`);
    expect((await fetch(tampered)).status).toBe(403);
    const longer = new URL(link);
    longer.searchParams.set('exp', String(Number(link.searchParams.get('exp')) + 60));
    expect((await fetch(longer)).status).toBe(403);
    // The store has OTHER, but no run handed it out, and the signature is not for it.
    expect((await fetch(new URL(`/refs/${OTHER}${link.search}`, link))).status).toBe(403);
    expect((await fetch(new URL('/refs/', link))).status).toBe(404);
    expect((await fetch(new URL('/refs/../store', link))).status).toBe(404);
    now += MAX_LINK_TTL_MS + 1000;
    try {
      expect((await fetch(link)).status).toBe(403);
    } finally {
      now -= MAX_LINK_TTL_MS + 1000;
    }
  });

  it('leave the callback routes to the receiver', async () => {
    const res = await fetch(`${receiver.localUrl}/callbacks/nobody`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });
});
