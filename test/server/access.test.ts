/**
 * A server others can reach: it refuses to start without TLS (or a proxy) and without access
 * tokens; over https, a request without a token or with a revoked one is refused (401) and spends
 * nothing; each person sees and cancels only their own runs, an admin every run; the editor signs
 * in to an HttpOnly, SameSite=Strict, Secure cookie. Real CLI for serve and tokens, a self-signed
 * certificate made by openssl, the emulator over HTTP.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { startServer, type RunningServer } from '../../engine/server/server';
import { cli } from '../helpers/cli';
import { drafts } from '../helpers/drafts';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
let cert: { cert: Buffer; key: Buffer; certPath: string; keyPath: string };
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 3_000 });
  const dir = tempDir();
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  cert = { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, keyPath };
});
afterAll(async () => {
  await emulator.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** One https request to the server on loopback, trusting only the test's certificate. */
function call(port: number, method: string, path: string, o: { token?: string; cookie?: string; body?: unknown; origin?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: cert.cert,
        headers: {
          host: `127.0.0.1:${port}`,
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(o.cookie ? { cookie: o.cookie } : {}),
          ...(o.origin ? { origin: o.origin } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d));
        res.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = { text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe('serving others: refused without access control', () => {
  it('off loopback without TLS, or without any access token, serve exits 2 with one line and starts nothing', async () => {
    const cwd = tempDir();
    const plain = await cli(['serve', '--host', '0.0.0.0', '--port', '0'], { cwd });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/serving on 0\.0\.0\.0 would send access tokens over the network in clear: give --tls-cert FILE and --tls-key FILE, or --behind-proxy/);
    const noTokens = await cli(['serve', '--host', '0.0.0.0', '--port', '0', '--tls-cert', cert.certPath, '--tls-key', cert.keyPath], { cwd });
    expect(noTokens.code).toBe(2);
    expect(noTokens.stderr).toMatch(/no access token exists yet: make one with fluxgraph token add NAME --admin/);
    const proxied = await cli(['serve', '--behind-proxy', '--port', '0'], { cwd });
    expect(proxied.code).toBe(2);
    expect(proxied.stderr).toMatch(/serving behind a proxy needs access control/);
  });
});

describe('a team server with access tokens over https', () => {
  let server: RunningServer;
  let cwd: string;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    cwd = tempDir();
    for (const [name, extra] of [
      ['alice', ['--team', 'design']],
      ['bob', []],
      ['root', ['--admin']],
      ['mallory', []],
    ] as const) {
      const made = await cli(['token', 'add', name, ...extra], { cwd });
      expect(made.code).toBe(0);
      tokens[name] = made.stdout.trim();
      expect(tokens[name]).toMatch(/^fgt_[0-9a-f]{8}_/);
      expect(made.stderr).toMatch(new RegExp(`Access token [0-9a-f]{8} for ${name}.*shown only now`));
    }
    const revoked = await cli(['token', 'revoke', 'mallory'], { cwd });
    expect(revoked.stdout).toMatch(/Revoked 1 token of mallory/);
    const listed = await cli(['token', 'list'], { cwd });
    expect(listed.stdout).toMatch(/mallory .* revoked/);
    // The ledger keeps hashes only.
    for (const t of Object.values(tokens)) expect(readFileSync(join(cwd, '.fluxgraph', 'ledger.sqlite')).toString('latin1')).not.toContain(t);
    server = await startServer({
      cwd,
      host: '0.0.0.0',
      port: 0,
      tls: { cert: cert.cert, key: cert.key },
      editor: 'none',
      env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'team-server-key' },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('no token, an unknown one or a revoked one: 401, and the emulator sees no submission', async () => {
    emulator.reset();
    const body = { pipeline: drafts(1) };
    for (const token of [undefined, 'fgt_00000000_made-up', tokens.mallory]) {
      const started = await call(server.port, 'POST', '/api/runs', { ...(token ? { token } : {}), body });
      expect(started.status).toBe(401);
      expect((await call(server.port, 'GET', '/api/runs', token ? { token } : {})).status).toBe(401);
      expect((await call(server.port, 'POST', '/api/estimate', { ...(token ? { token } : {}), body })).status).toBe(401);
    }
    // A page request goes to the sign-in page.
    const page = await call(server.port, 'GET', '/');
    expect(page.status).toBe(302);
    expect(page.headers.location).toBe('/signin');
    expect((await call(server.port, 'GET', '/signin')).body.text).toMatch(/Sign in to fluxgraph/);
    await new Promise((r) => setTimeout(r, 200));
    expect(emulator.stats().submitRequests.bfl).toBe(0);
    expect(server.url).toMatch(/^https:/);
  });

  it("one person cannot see or cancel another's run; an admin sees every run with its owner and can cancel it", async () => {
    emulator.reset();
    const started = await call(server.port, 'POST', '/api/runs', { token: tokens.alice, body: { pipeline: drafts(2, 'alice-run') } });
    expect(started.status).toBe(201);
    const runId = String(started.body.runId);

    expect((await call(server.port, 'GET', `/api/runs/${runId}`, { token: tokens.bob })).status).toBe(404);
    const bobsList = await call(server.port, 'GET', '/api/runs', { token: tokens.bob });
    expect((bobsList.body.runs as { runId: string }[]).map((r) => r.runId)).not.toContain(runId);
    expect((await call(server.port, 'POST', `/api/runs/${runId}/cancel`, { token: tokens.bob, body: {} })).status).toBe(404);
    expect((await call(server.port, 'GET', `/api/runs/${runId}/events`, { token: tokens.bob })).status).toBe(404);

    const own = await call(server.port, 'GET', `/api/runs/${runId}`, { token: tokens.alice });
    expect(own.body).toMatchObject({ runId, owner: 'alice', status: 'running' });
    const adminList = await call(server.port, 'GET', '/api/runs', { token: tokens.root });
    expect((adminList.body.runs as { runId: string; owner?: string }[]).find((r) => r.runId === runId)).toMatchObject({ owner: 'alice' });
    const cancelled = await call(server.port, 'POST', `/api/runs/${runId}/cancel`, { token: tokens.root, body: {} });
    expect(cancelled.body).toEqual({ cancelled: true });
    await server.runs.settled(runId);
    expect((await call(server.port, 'GET', `/api/runs/${runId}`, { token: tokens.alice })).body).toMatchObject({ status: 'cancelled', owner: 'alice' });
    // The ledger records the owner: `fluxgraph runs` shows it.
    const runs = await cli(['runs'], { cwd });
    expect(runs.stdout).toMatch(new RegExp(`${runId}.*by alice \\(design\\)`));
  });

  it('signing in sets an HttpOnly, SameSite=Strict, Secure cookie that the editor then sends; the Origin check stays', async () => {
    const signIn = await call(server.port, 'POST', '/api/session', { body: { token: tokens.bob }, origin: `https://127.0.0.1:${server.port}` });
    expect(signIn.status).toBe(200);
    expect(signIn.body).toEqual({ person: 'bob', admin: false });
    const setCookie = String(signIn.headers['set-cookie']);
    expect(setCookie).toMatch(/fluxgraph_token=fgt_/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Secure/);
    const cookie = setCookie.split(';')[0];
    expect((await call(server.port, 'GET', '/api/session', { cookie })).body).toEqual({ person: 'bob', admin: false });
    expect((await call(server.port, 'GET', '/api/runs', { cookie })).status).toBe(200);
    // A page on another site cannot use the cookie to spend: its Origin is refused.
    const forged = await call(server.port, 'POST', '/api/runs', { cookie, origin: 'https://evil.example', body: { pipeline: drafts(1) } });
    expect(forged.status).toBe(403);
    // A wrong token signs nobody in.
    expect((await call(server.port, 'POST', '/api/session', { body: { token: tokens.mallory } })).status).toBe(401);
  });
});
