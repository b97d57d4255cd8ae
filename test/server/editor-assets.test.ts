import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editorFingerprint, ensureEditorBuild, REPO_ROOT } from '../../engine/server/editor-assets';
import { request, startTestServer } from './helpers';

let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  server = await startTestServer({ editor: 'build' });
});

afterAll(async () => {
  await server?.close();
});

describe('serving the built editor', () => {
  it('serves the dist/editor that npm run build made while its sources are unchanged', async () => {
    const dir = await ensureEditorBuild();
    expect(dir).toBe(join(REPO_ROOT, 'dist', 'editor'));
    expect(server.assets?.dir).toBe(dir);
    const stamp = JSON.parse(readFileSync(join(dir, '.fluxgraph-build.json'), 'utf8')) as { fingerprint: string };
    expect(stamp.fingerprint).toBe(await editorFingerprint());
    expect(readdirSync(dir)).toContain('index.html');
  });

  it('builds on demand into a cache folder named by the fingerprint, once, when dist/editor is not current', async () => {
    const dir = await ensureEditorBuild({ force: true });
    expect(dir).toContain(await editorFingerprint());
    expect(dir).not.toBe(join(REPO_ROOT, 'dist', 'editor'));
    expect(readdirSync(dir)).toContain('index.html');
  });

  it('serves the app with a strict content security policy and no framing', async () => {
    const res = await request(server, 'GET', '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('<div id="root"></div>');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('serves hashed assets as immutable and the app for app routes', async () => {
    const html = (await request(server, 'GET', '/')).text;
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
    const js = await request(server, 'GET', script);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toContain('immutable');
    expect((await request(server, 'GET', '/some/route')).text).toContain('<div id="root"></div>');
  });

  it.each([
    ['a missing asset', '/assets/missing.js', 404],
    ['a path that climbs out', '/..%2f..%2fpackage.json', 403],
    ['the build stamp', '/.fluxgraph-build.json', 404],
  ])('refuses %s', async (_, path, status) => {
    expect((await request(server, 'GET', path)).status).toBe(status);
  });

  it('refuses writes to the editor files', async () => {
    expect((await request(server, 'POST', '/index.html', { body: {} })).status).toBe(405);
  });

  it('keeps the build outside the repository’s source folders', () => {
    expect(server.assets?.dir?.startsWith(join(__dirname, '..', '..', 'editor'))).toBe(false);
  });
});

describe('serving the editor with hot reload (--dev)', () => {
  let dev: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    dev = await startTestServer({ editor: 'dev' });
  });

  afterAll(async () => {
    await dev?.close();
  });

  it('serves the sources through vite on the API’s origin', async () => {
    const html = await request(dev, 'GET', '/');
    expect(html.status).toBe(200);
    expect(html.text).toContain('/@vite/client');
    // editor/api/client.ts is a source module, not an API route.
    const module = await request(dev, 'GET', '/api/client.ts');
    expect(module.status).toBe(200);
    expect(module.headers['content-type']).toMatch(/javascript/);
    const nodes = await request(dev, 'GET', '/api/nodes');
    expect(nodes.headers['content-type']).toMatch(/^application\/json/);
  });

  it('still refuses a foreign Host header', async () => {
    expect((await request(dev, 'GET', '/', { headers: { host: 'evil.example' } })).status).toBe(403);
    expect((await request(dev, 'GET', '/api/client.ts', { headers: { host: 'evil.example' } })).status).toBe(403);
  });
});
