/**
 * A small loopback HTTP receiver for provider completion callbacks (webhooks).
 *
 * Each adapter registers a verifier for its path (`/callbacks/<provider>`). A callback is either
 * verified (signature checked: BFL, kie with an HMAC key), and its payload may settle the task, or
 * unverified (the provider does not sign: crun, kie without a key), and it only nudges the poller
 * to ask the provider at once. A bad or missing signature where one is expected is refused with
 * 401, and only nudges the task's waiter (a forged body costs one status request, nothing more).
 * Callbacks that arrive before anyone waits are kept for a while and replayed; polling stays
 * the fallback, and the poller settles a task once, whichever source is first. Waiters and kept
 * callbacks are maps keyed by provider and task id, so a delivery costs the same at any volume.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PushedSteps, PollStep } from './poll';

/** One accepted callback. */
export interface CallbackEvent {
  provider: string;
  taskId: string;
  /** True when its signature was checked; only then may the payload settle a task. */
  verified: boolean;
  /** Parsed JSON body. */
  payload: unknown;
  receivedAt: number;
}

export interface CallbackInput {
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
  body: unknown;
}

/** Reads the task id and checks the signature; throws `CallbackRejected` to refuse. */
export type CallbackVerifier = (input: CallbackInput) => { taskId: string; verified: boolean };

export class CallbackRejected extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The task the refused body names: it may still be finished, so its waiter polls at once. */
    readonly taskId?: string,
  ) {
    super(message);
  }
}

export interface CallbackReceiverOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Public URL that forwards to this receiver (a tunnel), used in callback URLs instead of the local one. */
  publicBaseUrl?: string;
  /** How long an unclaimed callback is kept, ms (default 30 min). */
  retainMs?: number;
}

export interface CallbackReceiverStats {
  accepted: number;
  rejected: number;
}

const MAX_BODY = 1_000_000;
const MAX_RETAINED = 2_000;

export class CallbackReceiver {
  private readonly verifiers = new Map<string, CallbackVerifier>();
  private readonly secrets = new Map<string, string>();
  private readonly subscribers = new Map<string, Set<(e: CallbackEvent) => void>>();
  /** Callbacks nobody was waiting for, oldest delivery first (re-inserted on every delivery). */
  private readonly retained = new Map<string, CallbackEvent[]>();
  private readonly counters: CallbackReceiverStats = { accepted: 0, rejected: 0 };
  /** Handlers tried before the callback routes; each returns true when it took the request. */
  private readonly mounts: ((req: IncomingMessage, res: ServerResponse) => boolean)[] = [];

  private constructor(
    private readonly server: Server,
    /** http://127.0.0.1:PORT */
    readonly localUrl: string,
    private readonly publicBaseUrl: string | undefined,
    private readonly retainMs: number,
  ) {}

  static async start(opts: CallbackReceiverOptions = {}): Promise<CallbackReceiver> {
    const host = opts.host ?? '127.0.0.1';
    let receiver: CallbackReceiver | undefined;
    const server = createServer((req, res) => {
      // Other GET routes on the same port (the public reference links of engine/refs).
      for (const mounted of receiver?.mounts ?? []) if (mounted(req, res)) return;
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          res.writeHead(413).end();
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        const out = receiver!.handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks));
        res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
      });
      req.on('error', () => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    receiver = new CallbackReceiver(server, `http://${hostPart}:${port}`, opts.publicBaseUrl?.replace(/\/+$/, ''), opts.retainMs ?? 30 * 60_000);
    return receiver;
  }

  /** The URL a provider should POST to for this provider id. */
  urlFor(provider: string): string {
    return `${this.publicBaseUrl ?? this.localUrl}/callbacks/${encodeURIComponent(provider)}`;
  }

  /** A random per-receiver secret for providers that sign with a secret we choose (BFL webhook_secret). */
  secretFor(provider: string): string {
    let s = this.secrets.get(provider);
    if (!s) {
      s = randomBytes(32).toString('hex');
      this.secrets.set(provider, s);
    }
    return s;
  }

  /** Every secret generated so far, for redaction. */
  allSecrets(): string[] {
    return [...this.secrets.values()];
  }

  /** Serves other paths on this port (they must not start with /callbacks/). */
  mount(handler: (req: IncomingMessage, res: ServerResponse) => boolean): void {
    this.mounts.push(handler);
  }

  register(provider: string, verifier: CallbackVerifier): void {
    this.verifiers.set(provider, verifier);
  }

  stats(): CallbackReceiverStats {
    return { ...this.counters };
  }

  /**
   * Callbacks for one task, mapped to poll steps by the adapter: verified ones through `map`,
   * unverified ones become a "poll now" nudge. Retained callbacks are replayed first.
   */
  subscribe<T>(provider: string, taskId: string, map: (payload: unknown) => PollStep<T>): PushedSteps<T> {
    const key = `${provider}\u0000${taskId}`;
    // Kept callbacks are handed over once: the waiter owns them now.
    const queue: CallbackEvent[] = this.retained.get(key) ?? [];
    this.retained.delete(key);
    let waiter: ((e: CallbackEvent) => void) | undefined;
    const listener = (e: CallbackEvent) => {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w(e);
      } else queue.push(e);
    };
    let set = this.subscribers.get(key);
    if (!set) this.subscribers.set(key, (set = new Set()));
    set.add(listener);
    const toStep = (e: CallbackEvent): PollStep<T> => {
      if (!e.verified) return { state: 'pending', status: 'callback received' };
      try {
        return map(e.payload);
      } catch {
        return { state: 'pending', status: 'callback received' };
      }
    };
    return {
      next: () => {
        const e = queue.shift();
        if (e) return Promise.resolve(toStep(e));
        return new Promise<CallbackEvent>((resolve) => (waiter = resolve)).then(toStep);
      },
      close: () => {
        waiter = undefined;
        set!.delete(listener);
        if (set!.size === 0) this.subscribers.delete(key);
      },
    };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(method: string, url: string, headers: IncomingHttpHeaders, rawBody: Buffer): { status: number; body: unknown } {
    const m = /^\/callbacks\/([^/?#]+)\/?(?:[?#].*)?$/.exec(url);
    const provider = m ? decodeURIComponent(m[1]) : undefined;
    const verifier = provider ? this.verifiers.get(provider) : undefined;
    if (method !== 'POST' || !provider || !verifier) {
      this.counters.rejected++;
      return { status: 404, body: { error: 'not found' } };
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString('utf8'));
    } catch {
      this.counters.rejected++;
      return { status: 400, body: { error: 'body is not JSON' } };
    }
    let verdict: { taskId: string; verified: boolean };
    try {
      verdict = verifier({ headers, rawBody, body });
    } catch (e) {
      this.counters.rejected++;
      const status = e instanceof CallbackRejected ? e.status : 400;
      if (e instanceof CallbackRejected && e.taskId) this.nudge(provider, e.taskId, body);
      return { status, body: { error: e instanceof Error ? e.message : 'rejected' } };
    }
    this.counters.accepted++;
    this.deliver({ provider, taskId: verdict.taskId, verified: verdict.verified, payload: body, receivedAt: Date.now() });
    return { status: 200, body: { ok: true } };
  }

  private deliver(e: CallbackEvent): void {
    const key = `${e.provider}\u0000${e.taskId}`;
    const listeners = this.subscribers.get(key);
    if (listeners && listeners.size > 0) {
      for (const l of listeners) l(e);
      return;
    }
    this.expireRetained(e.receivedAt);
    const list = this.retained.get(key) ?? [];
    list.push(e);
    if (list.length > 4) list.shift();
    this.retained.delete(key);
    this.retained.set(key, list);
    if (this.retained.size > MAX_RETAINED) this.retained.delete(this.retained.keys().next().value as string);
  }

  /** A refused callback for a task someone waits on: ask the provider now instead of later. */
  private nudge(provider: string, taskId: string, payload: unknown): void {
    const listeners = this.subscribers.get(`${provider}\u0000${taskId}`);
    if (!listeners) return;
    const e: CallbackEvent = { provider, taskId, verified: false, payload, receivedAt: Date.now() };
    for (const l of listeners) l(e);
  }

  /** Drops kept callbacks older than the retention, from the oldest; stops at the first young one. */
  private expireRetained(now: number): void {
    for (const [k, list] of this.retained) {
      if (list[list.length - 1].receivedAt >= now - this.retainMs) return;
      this.retained.delete(k);
    }
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * BFL (providers.md 1.9 [U]): `X-BFL-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
 * A bare hex value (no `sha256=`) is accepted too.
 */
export function verifyBflSignature(secret: string, rawBody: Buffer, signatureHeader: string | undefined): boolean {
  if (!signatureHeader) return false;
  const given = signatureHeader.trim().replace(/^sha256=/i, '').toLowerCase();
  const want = createHmac('sha256', secret).update(rawBody).digest('hex');
  return safeEqual(given, want);
}

export function bflVerifier(secret: string, headerName = 'x-bfl-signature'): CallbackVerifier {
  return ({ headers, rawBody, body }) => {
    const id = (body as { id?: unknown; task_id?: unknown } | null)?.id ?? (body as { task_id?: unknown } | null)?.task_id;
    if (!verifyBflSignature(secret, rawBody, header(headers, headerName))) {
      throw new CallbackRejected(401, 'missing or bad signature', typeof id === 'string' && id ? id : undefined);
    }
    if (typeof id !== 'string' || !id) throw new CallbackRejected(400, 'no task id');
    return { taskId: id, verified: true };
  };
}

/** kie.ai (providers.md 2.5 [V]): base64(HMAC-SHA256(key, taskId + "." + timestamp)). */
export function kieSignature(key: string, taskId: string, timestamp: string): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64');
}

export function verifyKieSignature(
  key: string,
  taskId: string,
  timestamp: string | undefined,
  signature: string | undefined,
  opts: { nowSec?: number; maxSkewSec?: number } = {},
): boolean {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp.trim())) return false;
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (opts.maxSkewSec ?? 300)) return false;
  return safeEqual(signature.trim(), kieSignature(key, taskId, timestamp.trim()));
}

/** kie callbacks: `{code, msg, data: {taskId | task_id, state, ...}}`; verified only with an HMAC key. */
export function kieVerifier(hmacKey: string | undefined): CallbackVerifier {
  return ({ headers, body }) => {
    const data = (body as { data?: Record<string, unknown> } | null)?.data;
    const taskId = data?.taskId ?? data?.task_id;
    if (typeof taskId !== 'string' || !taskId) throw new CallbackRejected(400, 'no task id');
    if (!hmacKey) return { taskId, verified: false };
    const ok = verifyKieSignature(hmacKey, taskId, header(headers, 'x-webhook-timestamp'), header(headers, 'x-webhook-signature'));
    if (!ok) throw new CallbackRejected(401, 'missing or bad signature', taskId);
    return { taskId, verified: true };
  };
}

/** Providers that do not sign (crun): the callback only makes the poller ask the provider at once. */
export function unsignedVerifier(readTaskId: (body: unknown) => unknown): CallbackVerifier {
  return ({ body }) => {
    const taskId = readTaskId(body);
    if (typeof taskId !== 'string' || !taskId) throw new CallbackRejected(400, 'no task id');
    return { taskId, verified: false };
  };
}
