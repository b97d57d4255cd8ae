/** `fluxgraph serve` at the edges: a port already taken is a usage error, and --open with no browser says where to point one. */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
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

  /** The CLI, killed if it has not exited within `ms` (a server that failed to start must not hang on). */
  async function exitsWithin(args: string[], cwd: string, ms: number) {
    let timer: NodeJS.Timeout | undefined;
    const run = cli(args, { cwd });
    const watchdog = new Promise<'hung'>((done) => (timer = setTimeout(() => done('hung'), ms)));
    const r = await Promise.race([run, watchdog]);
    clearTimeout(timer);
    return { r };
  }

  it('exits 2 at once, with one line, when its cache folder is a file (no server left running)', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'cache'), 'not a folder');
    const { r } = await exitsWithin(['serve', '--port', '0', '--cache-dir', 'cache'], cwd, 30_000);
    expect(r).not.toBe('hung');
    if (r === 'hung') return;
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('fluxgraph:'))).toEqual([expect.stringMatching(/^fluxgraph: cache folder .*cache is a file, not a folder$/)]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).not.toContain('fluxgraph editor:');
  });

  it('exits 2 with what to do when the ledger is damaged (nothing left running)', async () => {
    const cwd = tempDir();
    const cache = join(cwd, '.fluxgraph');
    mkdirSync(cache);
    writeFileSync(join(cache, 'ledger.sqlite'), 'this is not a database, and it is longer than a header'.repeat(100));
    const { r } = await exitsWithin(['serve', '--port', '0'], cwd, 30_000);
    expect(r).not.toBe('hung');
    if (r === 'hung') return;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ledger\.sqlite is not a readable ledger .*move it aside/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
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
