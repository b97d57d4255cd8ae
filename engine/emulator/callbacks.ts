/** Completion callbacks (webhooks): signing and delivery with the providers' retry habit. */
import { createHmac } from 'node:crypto';
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
  constructor(private readonly deps: CallbackDeps) {}

  private async attempt(msg: CallbackMessage): Promise<boolean> {
    this.deps.stats.data.callbacks.sent[msg.provider]++;
    try {
      const res = await fetch(msg.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': `fluxgraph-emulator/${msg.provider}`, ...msg.headers },
        body: msg.body,
        // Providers give up on slow receivers (BFL 30 s, novita 5 s).
        signal: AbortSignal.any([this.deps.signal, AbortSignal.timeout(30_000)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok;
    } catch {
      return false;
    }
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
