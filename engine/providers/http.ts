/**
 * The one HTTP client of the provider adapters: node:http(s) over one keep-alive agent per origin,
 * JSON in/out, an inactivity timeout per request, and the mapping of every transport or status
 * failure to an `EngineError`. Nothing here ever puts a
 * request header (API key) into an error: messages quote only the provider's response text,
 * scrubbed of every secret the adapter knows.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { whenAborted } from './abort-hub';
import { EngineError, isEngineError, type ErrorCode, type ErrorDetails } from '../core/errors';
import type { GeneratedImage } from '../core/provider';

/** Which step of a task a request belongs to; it decides how ambiguous failures are read. */
export type HttpPhase = 'submit' | 'poll' | 'download';

/** Who is calling: used in messages and to scrub secrets. */
export interface ProviderContext {
  /** Provider id (`bfl`). */
  id: string;
  /** Human name (`Black Forest Labs`). */
  title: string;
  /** Env var holding the key, named in auth errors (`BFL_API_KEY`). */
  keyEnv: string;
  /** Env var of the base URL (`BFL_BASE_URL`), named when the host cannot be reached. */
  baseUrlEnv?: string;
  /** Values that must never appear in errors (API key, webhook secrets). */
  secrets: readonly string[];
}

export interface HttpRequest {
  ctx: ProviderContext;
  phase: HttpPhase;
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  /** JSON body (POST). */
  json?: unknown;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Task the request is about, put in error details. */
  taskId?: string;
  /** Downloads: the most bytes taken (default {@link RESULT_MAX_BYTES}), counted as they stream. */
  maxBytes?: number;
  /** Downloads: the whole transfer's time limit, ms (default {@link RESULT_DEADLINE_MS}). */
  deadlineMs?: number;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined when the body was empty or not JSON. */
  body: unknown;
  text: string;
}

export const DEFAULT_TIMEOUTS: Record<HttpPhase, number> = { submit: 120_000, poll: 30_000, download: 120_000 };
/** A result image larger than this is not taken (issue 8: 20 MB; FLUX.2 results are a few MB). */
export const RESULT_MAX_BYTES = 20 * 1024 * 1024;
/** A download that trickles on longer than this is cut off (and retried while its URL lives). */
export const RESULT_DEADLINE_MS = 120_000;

/** Socket errors that mean the request never reached the provider: safe to send again. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Sends one JSON request. Throws only for transport failures; any HTTP status is returned. */
export async function requestJson(req: HttpRequest): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let body: Buffer | undefined;
  if (req.json !== undefined) {
    body = Buffer.from(JSON.stringify(req.json));
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(body.length);
  }
  const res = await send(req, req.url, headers, body, false);
  const text = res.body.toString('utf8');
  const raw = res.raw;
  return {
    status: res.status,
    get headers() {
      return toHeaders(raw);
    },
    body: parseJson(text),
    text,
  };
}

/** GET of raw bytes (result images), hashed as they arrive. Throws only for transport failures. */
export async function requestBytes(req: HttpRequest): Promise<{ status: number; headers: Headers; bytes: Buffer; sha256?: string }> {
  let url = req.url;
  // Result URLs may redirect (CDNs, storage gateways); a JSON API never should.
  for (let hop = 0; ; hop++) {
    const res = await send(req, url, { ...req.headers }, undefined, true);
    const location = res.raw.location;
    if (res.status >= 300 && res.status < 400 && location && hop < MAX_REDIRECTS) {
      url = new URL(location, url).href;
      continue;
    }
    const raw = res.raw;
    return {
      status: res.status,
      get headers() {
        return toHeaders(raw);
      },
      bytes: res.body,
      ...(res.sha256 ? { sha256: res.sha256 } : {}),
    };
  }
}

const MAX_REDIRECTS = 5;

/**
 * One keep-alive agent per origin: connections (and TLS sessions) are reused across submits, polls
 * and downloads. Idle sockets are unref'd by the agent, so they never keep a process alive, and
 * closed before the server's announced Keep-Alive timeout.
 */
const agents = new Map<string, http.Agent>();
const MAX_AGENTS = 64;
/**
 * How long an idle connection is kept. A server closes idle connections on its own schedule (Node
 * after 5 s, announced in Keep-Alive, which the agent honours only when this is set); a request
 * sent on a connection the server is just closing fails with ECONNRESET, which for a submit is
 * ambiguous. So idle connections are dropped early, and a submit (paid) always opens its own: a
 * busy event loop can run a timer late, and a reset submit must never be a false alarm.
 */
const IDLE_MS = 4_000;

function agentFor(url: URL, phase: HttpPhase): http.Agent {
  const submit = phase === 'submit';
  const key = `${submit ? 'submit ' : ''}${url.protocol}//${url.host}`;
  let agent = agents.get(key);
  if (agent) return agent;
  const options: http.AgentOptions = submit
    ? { keepAlive: false, maxSockets: 256 }
    : { keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo', timeout: IDLE_MS };
  agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  if (agents.size >= MAX_AGENTS) {
    const [oldest, old] = agents.entries().next().value as [string, http.Agent];
    agents.delete(oldest);
    old.destroy();
  }
  agents.set(key, agent);
  return agent;
}

/** Closes every pooled connection (tests and hosts that want a clean exit; new requests reconnect). */
export function closeHttpAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

interface RawResponse {
  status: number;
  raw: IncomingHttpHeaders;
  body: Buffer;
  sha256?: string;
}

/**
 * One request over the origin's agent. The timeout is the socket's own inactivity timer and the
 * cancel signal gets one listener, so a request allocates no AbortSignal and no timer of its own.
 */
function send(req: HttpRequest, href: string, headers: Record<string, string>, body: Buffer | undefined, hash: boolean): Promise<RawResponse> {
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUTS[req.phase];
  const signal = req.signal;
  return new Promise<RawResponse>((resolve, reject) => {
    if (signal?.aborted) return reject(new EngineError('aborted', 'the run was cancelled', baseDetails(req)));
    let url: URL;
    try {
      url = new URL(href);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
    } catch (e) {
      return reject(transportError(req, e, false, timeoutMs));
    }
    let timedOut = false;
    let settled = false;
    /** Downloads only: the byte cap and the whole transfer's deadline. */
    const cap = hash ? (req.maxBytes ?? RESULT_MAX_BYTES) : Infinity;
    let received = 0;
    let deadline: NodeJS.Timeout | undefined;
    /** The limit a timeout error names: the inactivity timeout, or the download's deadline. */
    let limitMs = timeoutMs;
    const finish = (err: unknown, value?: RawResponse) => {
      if (settled) return;
      settled = true;
      if (deadline) clearTimeout(deadline);
      stopAbort?.();
      if (err instanceof EngineError) return reject(err);
      if (err === undefined) return resolve(value!);
      if (signal?.aborted) return reject(new EngineError('aborted', 'the run was cancelled', baseDetails(req)));
      reject(transportError(req, err, timedOut, limitMs));
    };
    const lib = url.protocol === 'https:' ? https : http;
    const request = lib.request(url, { method: req.method, headers, agent: agentFor(url, req.phase) }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      const digest = hash && status >= 200 && status < 300 ? createHash('sha256') : undefined;
      const announced = Number(res.headers['content-length']);
      if (announced > cap) return void tooLarge(announced);
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received > cap) return void tooLarge(received);
        chunks.push(c);
        digest?.update(c);
      });
      res.on('error', (e) => finish(e));
      res.on('aborted', () => finish(Object.assign(new Error('the response was cut off'), { code: 'ECONNRESET' })));
      res.on('end', () => {
        if (!res.complete) return finish(Object.assign(new Error('the response was cut off'), { code: 'ECONNRESET' }));
        finish(undefined, {
          status,
          raw: res.headers,
          body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
          ...(digest ? { sha256: digest.digest('hex') } : {}),
        });
      });
    });
    function onAbort() {
      request.destroy(new Error('aborted'));
    }
    function tooLarge(bytes: number) {
      const mb = (n: number) => (n >= 1048576 ? `${Math.round((n / 1048576) * 10) / 10} MB` : `${Math.ceil(n / 1024)} KB`);
      finish(
        new EngineError('provider_failed', `${req.ctx.title}: the result${req.taskId ? ` of task ${req.taskId}` : ''} at ${hostOf(href)} is ${bytes > received ? 'announced as ' : 'over '}${mb(bytes)}, above the ${mb(cap)} cap for result downloads; not taken`, {
          ...baseDetails(req),
          retryable: false,
        }),
      );
      request.destroy();
    }
    if (hash) {
      const limit = req.deadlineMs ?? RESULT_DEADLINE_MS;
      deadline = setTimeout(() => {
        timedOut = true;
        limitMs = limit;
        request.destroy(new Error(`not finished within ${Math.round(limit / 1000)} s`));
      }, limit);
    }
    // One waiter on the run's signal per request in flight: through the hub, not a listener each.
    const stopAbort = signal ? whenAborted(signal, onAbort) : undefined;
    request.setTimeout(timeoutMs, () => {
      timedOut = true;
      request.destroy(new Error(`timeout after ${timeoutMs} ms`));
    });
    request.on('error', (e) => finish(e));
    request.end(body);
  });
}

/** A WHATWG `Headers` of a response, built only when an adapter reads a header (errors, Retry-After). */
function toHeaders(raw: IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
  return h;
}

function transportError(req: Pick<HttpRequest, 'ctx' | 'phase' | 'taskId' | 'url'>, e: unknown, timedOut: boolean, timeoutMs: number): EngineError {
  const { ctx } = req;
  const sysCode = socketCode(e);
  const where = `${ctx.title} (${hostOf(req.url)})`;
  const details: ErrorDetails = { ...baseDetails(req), ...(sysCode ? { errno: sysCode } : {}) };
  const cause = new Error(timedOut ? `timeout after ${timeoutMs} ms` : `${sysCode ?? 'network error'}: ${scrub(errorText(e), ctx.secrets)}`);
  if (!timedOut && sysCode && NOT_SENT_CODES.has(sysCode)) {
    // Where it tried and which variables point there: a host that is not there is named (provider-stops.ts).
    const at = { host: hostOf(req.url), keyEnv: ctx.keyEnv, ...(ctx.baseUrlEnv ? { baseUrlEnv: ctx.baseUrlEnv } : {}) };
    return new EngineError('network', `could not connect to ${where}: ${sysCode}; nothing was sent`, { ...details, ...at, retryable: true }, { cause });
  }
  const what = timedOut ? `${req.phase === 'download' ? 'not done' : 'no answer'} within ${Number((timeoutMs / 1000).toFixed(1))} s` : `the connection failed (${sysCode ?? 'network error'})`;
  if (req.phase === 'submit') {
    return new EngineError(
      'ambiguous_submit',
      `${where}: ${what} after the request was sent; the task may have been created (and charged), so it is not sent again automatically`,
      { ...details, retryable: false },
      { cause },
    );
  }
  return new EngineError(timedOut ? 'timeout' : 'network', `${where}: ${what}`, { ...details, retryable: true }, { cause });
}

/** What an adapter could read out of an error body. */
export interface ErrorBodyInfo {
  /** Human text from the provider. */
  message?: string;
  /** Wire name of the refused parameter, when the body names one. */
  param?: string;
}

/**
 * Maps a non-success HTTP status (or a body `code` that stands for one) to an engine error.
 * 5xx on submit is ambiguous (the task may exist), 5xx on a poll is a retryable failure.
 */
export function statusError(
  req: Pick<HttpRequest, 'ctx' | 'phase' | 'taskId' | 'url'>,
  status: number,
  info: ErrorBodyInfo = {},
  extra: ErrorDetails = {},
): EngineError {
  const { ctx, phase } = req;
  const said = info.message ? `: ${scrub(clip(info.message), ctx.secrets)}` : '';
  const details: ErrorDetails = { ...baseDetails(req), httpStatus: status, ...extra };
  const make = (code: ErrorCode, message: string, more: ErrorDetails) =>
    new EngineError(code, `${ctx.title}: ${message}`, { ...details, ...more });

  if (status === 401 || status === 403) {
    return make('auth', `the API key was refused (HTTP ${status}${said}); check ${ctx.keyEnv}`, { retryable: false });
  }
  if (status === 402) {
    return make('insufficient_credits', `not enough credits (HTTP 402${said}); top up the account and run again`, { retryable: false });
  }
  if (status === 429) {
    const wait = extra.retryAfterSec !== undefined ? `; retry after ${extra.retryAfterSec} s` : '';
    return make('rate_limited', `rate limited (HTTP 429${said})${wait}`, { retryable: true });
  }
  if (status === 400 || status === 422) {
    const param = info.param ? ` parameter "${info.param}"` : ' the request';
    return make('provider_rejected', `refused${param} (HTTP ${status}${said})`, { retryable: false, ...(info.param ? { param: info.param } : {}) });
  }
  if (status === 413) {
    return make('provider_rejected', `the request is too large (HTTP 413${said}); use fewer or smaller reference images`, { retryable: false, param: 'references' });
  }
  if (status === 404 && phase === 'submit') {
    return make('provider_rejected', `no such endpoint ${pathOf(req.url)} at ${hostOf(req.url)} (HTTP 404${said}); check the base URL`, { retryable: false });
  }
  if (status === 404 && phase === 'poll') {
    return make('task_not_found', `task ${req.taskId ?? ''} is unknown or expired (HTTP 404${said})`, { retryable: false });
  }
  if (status >= 500 && phase === 'submit') {
    return make(
      'ambiguous_submit',
      `server error on submit (HTTP ${status}${said}); the task may have been created (and charged), so it is not sent again automatically`,
      { retryable: false },
    );
  }
  if (status >= 500) {
    return make('provider_failed', `server error (HTTP ${status}${said})`, { retryable: true });
  }
  return make(phase === 'submit' ? 'provider_rejected' : 'provider_failed', `unexpected HTTP ${status}${said}`, { retryable: false });
}

/** Seconds from a Retry-After header (delta seconds or HTTP date); undefined when absent or invalid. */
export function retryAfterSec(headers: Headers): number | undefined {
  const raw = headers.get('retry-after');
  if (raw === null || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : undefined;
}

/** An error for a response whose shape is not what the contract says. */
export function shapeError(req: Pick<HttpRequest, 'ctx' | 'phase' | 'taskId' | 'url'>, what: string): EngineError {
  const code: ErrorCode = req.phase === 'submit' ? 'ambiguous_submit' : 'provider_failed';
  return new EngineError(code, `${req.ctx.title}: unexpected response: ${what}`, { ...baseDetails(req), retryable: false });
}

/**
 * Downloads a result image at once. 401/403/404/410 from a result URL mean it expired (signed
 * URLs live minutes); transient failures are retried a few times because a GET costs nothing.
 */
export async function downloadImage(
  ctx: ProviderContext,
  url: string,
  opts: { signal?: AbortSignal; taskId: string; timeoutMs?: number; attempts?: number; headers?: Record<string, string>; maxBytes?: number; deadlineMs?: number },
): Promise<Pick<GeneratedImage, 'bytes' | 'mime' | 'sha256'>> {
  const { signal, taskId, timeoutMs, headers, maxBytes, deadlineMs } = opts;
  const req: HttpRequest = { ctx, phase: 'download', method: 'GET', url, signal, taskId, timeoutMs, headers, maxBytes, deadlineMs };
  const attempts = opts.attempts ?? 3;
  if (!/^https?:\/\//i.test(url)) throw shapeError(req, `result URL is not http(s): ${clip(stripQuery(url))}`);
  let last: EngineError | undefined;
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await requestBytes(req);
      if ([401, 403, 404, 410].includes(res.status)) {
        throw new EngineError(
          'result_expired',
          `${ctx.title}: the result image of task ${opts.taskId} is no longer available (HTTP ${res.status} from ${hostOf(url)}); result URLs expire quickly`,
          { ...baseDetails(req), httpStatus: res.status, retryable: false },
        );
      }
      if (res.status < 200 || res.status > 299) {
        const wait = retryAfterSec(res.headers);
        throw new EngineError('provider_failed', `${ctx.title}: downloading the result of task ${opts.taskId} failed (HTTP ${res.status})`, {
          ...baseDetails(req),
          httpStatus: res.status,
          retryable: res.status >= 500 || res.status === 429,
          ...(wait !== undefined ? { retryAfterSec: wait } : {}),
        });
      }
      const mime = sniffImageMime(res.bytes);
      if (!mime) {
        throw new EngineError('provider_failed', `${ctx.title}: the result of task ${opts.taskId} is not a JPEG, PNG or WebP image`, {
          ...baseDetails(req),
          retryable: false,
        });
      }
      return { bytes: res.bytes, mime, ...(res.sha256 ? { sha256: res.sha256 } : {}) };
    } catch (e) {
      if (!isEngineError(e) || e.code === 'aborted' || e.details.retryable !== true) throw e;
      last = e;
    }
  }
  throw last ?? new EngineError('internal', 'download failed');
}

/** Image type from magic bytes. */
export function sniffImageMime(b: Buffer): GeneratedImage['mime'] | undefined {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && b.toString('ascii', 0, 4) === 'RIFF' && b.toString('ascii', 8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

/** Replaces every known secret in `text` (keys are never echoed, even if a server does). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  return out;
}

export function clip(text: string, max = 300): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

export function stripQuery(url: string): string {
  const i = url.search(/[?#]/);
  return i < 0 ? url : url.slice(0, i);
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '?';
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Joins a base URL (with or without trailing slash or path) and an absolute path. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

function baseDetails(req: Pick<HttpRequest, 'ctx' | 'phase' | 'taskId'>): ErrorDetails {
  return { provider: req.ctx.id, phase: req.phase, ...(req.taskId ? { taskId: req.taskId } : {}) };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function socketCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const c = cur as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof c.code === 'string' && c.code !== 'ABORT_ERR') return c.code;
    if (Array.isArray(c.errors) && c.errors.length > 0) {
      const inner = socketCode(c.errors[0]);
      if (inner) return inner;
    }
    cur = c.cause;
  }
  return undefined;
}

function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    if (cur instanceof Error) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return clip(parts.join(': '), 200);
}
