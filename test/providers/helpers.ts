/** Shared fixtures of the provider tests: the emulator, adapters pointed at it, reference images. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import sharp from 'sharp';
import type { ImageRequest, ModelId, Provider, ReferenceImage } from '../../engine/core/provider';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator, EmulatorOptions, ProviderName } from '../../engine/emulator/types';
import { createBflProvider } from '../../engine/providers/bfl';
import type { CallbackReceiver } from '../../engine/providers/callbacks';
import type { AdapterOptions } from '../../engine/providers/common';
import { createCrunProvider } from '../../engine/providers/crun';
import { createKieProvider } from '../../engine/providers/kie';
import { createNovitaProvider } from '../../engine/providers/novita';
import type { PollSettings } from '../../engine/providers/poll';

export const PROVIDERS: ProviderName[] = ['bfl', 'kie', 'novita', 'crun'];

/** Polls fast so the suite runs in seconds; the logic is the same as in production. */
export const FAST_POLL: Partial<PollSettings> = { intervalMs: 10, maxIntervalMs: 40, jitter: 0.1, maxRetryAfterMs: 20, timeoutMs: 20_000 };

export const KIE_HMAC_KEY = 'kie-hmac-test-key-0123456789';

export async function emulator(opts: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  return startEmulator({ latencyMs: 60, callbackRetryDelaysMs: [], kieWebhookHmacKey: KIE_HMAC_KEY, ...opts });
}

export interface AdapterSetup extends Partial<AdapterOptions> {
  callbacks?: CallbackReceiver;
}

/** The adapter of `id`, pointed at the emulator. */
export function adapter(id: ProviderName, emu: Emulator, setup: AdapterSetup = {}): Provider {
  const opts: AdapterOptions = { apiKey: 'test-key', baseUrl: emu.baseUrl, ...setup, poll: { ...FAST_POLL, ...setup.poll } };
  switch (id) {
    case 'bfl':
      return createBflProvider({ ...opts, signatureHeader: emu.options.bflSignatureHeader });
    case 'kie':
      return createKieProvider({ ...opts, webhookHmacKey: KIE_HMAC_KEY });
    case 'novita':
      return createNovitaProvider(opts);
    case 'crun':
      return createCrunProvider(opts);
  }
}

/** A model every provider offers. */
export const MODEL: ModelId = 'flex';

export function request(over: Partial<ImageRequest> = {}): ImageRequest {
  return { model: MODEL, prompt: 'a lighthouse at dawn', references: [], width: 512, height: 512, seed: 7, ...over };
}

/** A small PNG and a local HTTP server that serves it as a "public" URL. */
export interface Fixtures {
  png: Buffer;
  url: string;
  /** A reference with a URL (every provider takes it). */
  urlRef(): ReferenceImage;
  /** A reference with bytes only (BFL takes it; URL-only providers refuse it). */
  localRef(): ReferenceImage;
  close(): Promise<void>;
}

export async function fixtures(): Promise<Fixtures> {
  const png = await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 200, g: 90, b: 30 } } }).png().toBuffer();
  const server: Server = createServer((req, res) => {
    if (req.url === '/ref.png') res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ref.png`;
  const asset = { hash: 'a'.repeat(64), mime: 'image/png' as const, width: 96, height: 64, meta: { source: 'ref.png' } };
  return {
    png,
    url,
    urlRef: () => ({ asset, url, read: async () => png }),
    localRef: () => ({ asset, read: async () => png }),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Waits (without a time assertion) until `pred` holds; fails after `limitMs`. */
export async function until(pred: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Everything an error could show anyone: message, JSON, inspect output with the cause chain. */
export function everythingIn(e: unknown): string {
  const parts: string[] = [inspect(e, { depth: 20 })];
  let cur: unknown = e;
  for (let i = 0; cur && i < 10; i++) {
    if (cur instanceof Error) parts.push(cur.message, cur.stack ?? '');
    try {
      parts.push(JSON.stringify(cur));
    } catch {
      /* circular: inspect above covers it */
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

export async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** One request as a recording server saw it. */
export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/**
 * A tiny real HTTP server that records requests and answers from `reply`: for checking the exact
 * wire format an adapter sends, which the emulator does not expose.
 */
export async function recordingServer(reply: (r: Recorded, baseUrl: string) => { status: number; body: unknown }) {
  const seen: Recorded[] = [];
  let baseUrl = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const r: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined };
      seen.push(r);
      const out = reply(r, baseUrl);
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
