/** Completion callbacks (webhooks): signing and delivery with the providers' retry habit. */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Headers } from './http';
import type { StatsRecorder } from './stats';
import type { ProviderName } from './types';

/** One completion POST, ready to send. */
export interface CallbackMessage {
  provider: ProviderName;
  url: string;
  /** Raw JSON body: BFL signs these exact bytes. */
  body: string;
  headers: Headers;
}

/** `sha256=<hex HMAC-SHA256(secret, raw body)>` (providers.md 1.9, BFL skills repo [U]). */
export function bflSignature(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** `base64(HMAC-SHA256(key, taskId + "." + timestamp))`: kie signs id and time, not the body. */
export function kieSignature(key: string, taskId: string, timestamp: string): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64');
}

/** What the sender needs from the emulator: counters, retry delays and the shutdown signal. */
export interface CallbackDeps {
  stats: StatsRecorder;
  retryDelaysMs: () => number[];
  signal: AbortSignal;
  wait: (ms: number) => Promise<void>;
}

export class CallbackSender {
  /** Keep-alive connections per receiver origin (idle ones dropped before a Node server closes them). */
  private readonly agents = new Map<string, http.Agent>();

  constructor(private readonly deps: CallbackDeps) {}

  private agentFor(url: URL): http.Agent {
    let a = this.agents.get(url.origin);
    if (!a) {
      const options: http.AgentOptions = { keepAlive: true, maxSockets: 64, timeout: 4_000 };
      a = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
      this.agents.set(url.origin, a);
    }
    return a;
  }

  private async attempt(msg: CallbackMessage): Promise<boolean> {
    this.deps.stats.data.callbacks.sent[msg.provider]++;
    const first = await this.post(msg);
    // A kept-alive connection the receiver closed just then: nothing was delivered, send it anew.
    return first === 'stale' ? (await this.post(msg)) === 'ok' : first === 'ok';
  }

  private post(msg: CallbackMessage): Promise<'ok' | 'refused' | 'stale'> {
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(msg.url);
      } catch {
        return resolve('refused');
      }
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || this.deps.signal.aborted) return resolve('refused');
      const body = Buffer.from(msg.body);
      let answered = false;
      const done = (r: 'ok' | 'refused' | 'stale') => {
        this.deps.signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(
        url,
        {
          method: 'POST',
          agent: this.agentFor(url),
          headers: { 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': `fluxgraph-emulator/${msg.provider}`, ...msg.headers },
        },
        (res) => {
          answered = true;
          const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
          res.resume();
          res.on('end', () => done(ok ? 'ok' : 'refused'));
          res.on('error', () => done('refused'));
        },
      );
      const onAbort = () => req.destroy();
      this.deps.signal.addEventListener('abort', onAbort, { once: true });
      // Providers give up on slow receivers (BFL 30 s, novita 5 s).
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => done(!answered && req.reusedSocket && e.code === 'ECONNRESET' ? 'stale' : 'refused'));
      req.end(body);
    });
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /** Delivers once, retrying after each configured delay on a non-2xx or network error. */
  async deliver(msg: CallbackMessage): Promise<void> {
    const delays = this.deps.retryDelaysMs();
    for (let i = 0; ; i++) {
      if (this.deps.signal.aborted) return;
      if (await this.attempt(msg)) {
        this.deps.stats.data.callbacks.delivered++;
        return;
      }
      if (i >= delays.length || this.deps.signal.aborted) break;
      await this.deps.wait(delays[i]);
    }
    if (!this.deps.signal.aborted) this.deps.stats.data.callbacks.failed++;
  }
}
