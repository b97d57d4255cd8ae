/** `fluxgraph serve` at the edges: a port already taken is a usage error, and --open with no browser says where to point one. */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, cli, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

function occupyPort(): Promise<{ server: Server; port: number }> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => done({ server, port: (server.address() as { port: number }).port }));
  });
}

/** Starts `serve --open`, returns its standard error once it has said something about the browser, then stops it. */
function serveOpen(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fluxgraph.mjs'), 'serve', '--port', '0', '--open'], { cwd: tempDir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  return new Promise<string>((done, fail) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (/point one at/.test(stderr)) done(stderr);
    });
    child.on('exit', (code) => fail(new Error(`serve exited ${code}: ${stderr}`)));
  }).finally(() => child.kill('SIGTERM'));
}

describe('fluxgraph serve', () => {
  it('exits 2 (usage) when the --port asked for is in use, and says to pick another', async () => {
    const { server, port } = await occupyPort();
    try {
      const r = await cli(['serve', '--port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`port ${port} is in use: pick another with --port`);
    } finally {
      server.close();
    }
  });

  it('--open with no display says where to point a browser', async () => {
    const env = cleanEnv();
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    expect(await serveOpen(env)).toMatch(/No browser to open \(no display\): point one at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('--open with a display but no browser opener says the same', async () => {
    const env = cleanEnv({ DISPLAY: ':99', PATH: tempDir('fluxgraph-empty-path-') });
    expect(await serveOpen(env)).toMatch(/No browser to open \(xdg-open not found\): point one at http:\/\/127\.0\.0\.1:\d+/);
  });
});
