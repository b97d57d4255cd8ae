/**
 * Access control of a server others can reach: every request names a person by an access token,
 * sent as `Authorization: Bearer <token>` (the CLI, scripts) or kept by the editor in an HttpOnly,
 * SameSite=Strict cookie after the sign-in page. Without a valid token an API request is refused
 * with 401 and a page request goes to the sign-in page; nothing is validated, estimated or spent.
 * A server on loopback without `--behind-proxy` runs without tokens, as before.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessStore, Identity } from '../store/access';
import { HttpError, readJsonBody, sendJson, type Redact } from './http-util';

export const COOKIE = 'fluxgraph_token';
const COOKIE_MAX_AGE_SEC = 30 * 24 * 3600;

export interface AccessControl {
  store: AccessStore;
  /** Cookies only over https (direct TLS, or a TLS-terminating proxy in front). */
  secureCookie: boolean;
}

const identities = new WeakMap<IncomingMessage, Identity>();

/** The person a request acts for; undefined on a server without access control. */
export function whoIs(req: IncomingMessage): Identity | undefined {
  return identities.get(req);
}

function tokenOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** Paths anyone may reach: the sign-in page and the sign-in call. */
function isOpen(method: string, path: string): boolean {
  return (method === 'GET' && path === '/signin') || (method === 'POST' && (path === '/api/session' || path === '/api/session/end'));
}

/**
 * Checks the request's token. Returns true when the request may go on; otherwise it was answered
 * (401 for the API, a redirect to the sign-in page for anything else).
 */
export async function admit(ac: AccessControl, req: IncomingMessage, res: ServerResponse, url: URL, isApi: boolean, redact: Redact): Promise<boolean> {
  const method = (req.method ?? 'GET').toUpperCase();
  const token = tokenOf(req);
  const who = token ? await ac.store.verifyToken(token) : undefined;
  if (who) {
    identities.set(req, who);
    return true;
  }
  if (isOpen(method, url.pathname)) return true;
  if (isApi) {
    res.setHeader('www-authenticate', 'Bearer realm="fluxgraph"');
    throw new HttpError(401, 'unauthorized', token ? 'this access token is unknown or was revoked: ask an admin for a new one (fluxgraph token add NAME)' : 'sign in with an access token (Authorization: Bearer <token>, or the sign-in page)');
  }
  void redact;
  res.writeHead(302, { location: '/signin', 'cache-control': 'no-store' });
  res.end();
  return false;
}

/** The sign-in routes: POST /api/session { token } sets the cookie; POST /api/session/end clears it; GET /api/session says who. */
export function sessionRoutes(ac: AccessControl, redact: Redact, maxBodyBytes: number) {
  const cookie = (value: string, maxAge: number) =>
    `${COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${ac.secureCookie ? '; Secure' : ''}`;
  return [
    {
      method: 'POST' as const,
      pattern: /^\/api\/session$/,
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { token?: unknown } | null;
        const token = typeof body?.token === 'string' ? body.token.trim() : '';
        const who = token ? await ac.store.verifyToken(token) : undefined;
        if (!who) throw new HttpError(401, 'unauthorized', 'this access token is unknown or was revoked');
        res.setHeader('set-cookie', cookie(token, COOKIE_MAX_AGE_SEC));
        sendJson(res, 200, { person: who.person, ...(who.team ? { team: who.team } : {}), admin: who.admin }, redact);
      },
    },
    {
      method: 'POST' as const,
      pattern: /^\/api\/session\/end$/,
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        await readJsonBody(req, maxBodyBytes);
        res.setHeader('set-cookie', cookie('', 0));
        sendJson(res, 200, { signedOut: true }, redact);
      },
    },
    {
      method: 'GET' as const,
      pattern: /^\/api\/session$/,
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        const who = whoIs(req);
        // The caps that hold this person's runs, with what is left (shown before Run).
        const caps = who ? await ac.store.standing(who) : [];
        sendJson(res, 200, who ? { person: who.person, ...(who.team ? { team: who.team } : {}), admin: who.admin, ...(caps.length ? { caps } : {}) } : { person: null }, redact);
      },
    },
  ];
}

/** The sign-in page: plain HTML and a few lines of script, served before any editor file. */
export const SIGNIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fluxgraph: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px system-ui,sans-serif;background:#111;color:#eee;display:grid;place-items:center;height:100vh;margin:0}
form{background:#1c1c1c;padding:28px;border-radius:8px;width:340px}h1{font-size:18px;margin:0 0 14px}
input{width:100%;box-sizing:border-box;padding:8px;margin:8px 0 14px;background:#000;color:#eee;border:1px solid #444;border-radius:4px}
button{padding:8px 16px}#error{color:#f77;min-height:20px}</style></head>
<body><form id="signin"><h1>Sign in to fluxgraph</h1>
<label for="token">Access token</label><input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button><p id="error" role="alert"></p>
<p style="color:#999;font-size:13px">An admin makes tokens with <code>fluxgraph token add NAME</code>.</p></form>
<script>
document.getElementById('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: document.getElementById('token').value }) });
  if (r.ok) location.href = '/';
  else document.getElementById('error').textContent = 'That token is unknown or was revoked.';
});
</script></body></html>`;
