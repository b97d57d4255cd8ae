import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REFERENCE_BYTES, referenceImageNode } from '../../nodes/reference-image';
import { nodeContext } from '../helpers/node-context';

let server: Server;
let base: string;
let png: Buffer;

beforeAll(async () => {
  png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#0a0' } }).png().toBuffer();
  server = createServer((req, res) => {
    if (req.url === '/ok.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else res.writeHead(404).end('nope');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const run = (source: string, ctx = nodeContext()) => referenceImageNode.run({ inputs: {}, params: { source }, ctx });

describe('reference-image', () => {
  it('reads a file relative to the pipeline folder and stores it', async () => {
    const ctx = nodeContext();
    writeFileSync(join(ctx.baseDir, 'ref.png'), png);
    const out = await run('ref.png', ctx);
    expect(out?.image).toMatchObject({ mime: 'image/png', width: 40, height: 30 });
    expect(await ctx.store.read(out!.image!.hash)).toEqual(png);
  });

  it('downloads an http URL and keeps the URL for providers that need one', async () => {
    const out = await run(`${base}/ok.png`);
    expect(out?.image?.meta?.url).toBe(`${base}/ok.png`);
  });

  it.each([
    ['a missing file', 'missing.png', /file not found/],
    ['a URL that answers 404', '/404', /HTTP 404/],
    ['a GIF', 'anim.gif', /anim.gif is a GIF image, not a JPEG, PNG or WebP image/],
    ['text posing as an image', 'fake.png', /fake.png is text, not a JPEG, PNG or WebP image/],
    ['a file over the size limit', 'huge.png', /the limit is 20 MB/],
  ])('refuses %s with the reason', async (_n, source, message) => {
    const ctx = nodeContext();
    writeFileSync(join(ctx.baseDir, 'anim.gif'), await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).gif().toBuffer());
    writeFileSync(join(ctx.baseDir, 'fake.png'), 'hello');
    writeFileSync(join(ctx.baseDir, 'huge.png'), Buffer.alloc(MAX_REFERENCE_BYTES + 1));
    await expect(run(source.startsWith('/') ? `${base}${source}` : source, ctx)).rejects.toThrow(message);
  });
});
