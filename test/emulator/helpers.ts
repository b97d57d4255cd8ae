/** Helpers for the emulator tests: real HTTP against a started emulator, no mocks. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? safeJson(text) : undefined };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? safeJson(text) : undefined };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Polls until `done` says so; gives up after `attempts` (tests use tiny latencies). */
export async function pollUntil<T>(fetchOnce: () => Promise<T>, done: (v: T) => boolean, attempts = 200, intervalMs = 10): Promise<T> {
  let last!: T;
  for (let i = 0; i < attempts; i++) {
    last = await fetchOnce();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return last;
}

export async function download(url: string): Promise<{ status: number; bytes: Buffer; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

export async function imageInfo(bytes: Buffer): Promise<{ width: number; height: number; format: string }> {
  const meta = await sharp(bytes).metadata();
  return { width: meta.width!, height: meta.height!, format: meta.format! };
}

/** A solid-colour PNG to use as an input image. */
export async function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** Mean RGB of an encoded image. */
export async function meanColor(bytes: Buffer): Promise<[number, number, number]> {
  const stats = await sharp(bytes).stats();
  return [stats.channels[0].mean, stats.channels[1].mean, stats.channels[2].mean];
}

export interface ReceivedCallback {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  json: any;
}

/** A local HTTP server that records POSTs, answering with `status` (default 200). */
export async function startReceiver(status: () => number = () => 200): Promise<{
  url: string;
  received: ReceivedCallback[];
  waitFor(count: number, attempts?: number): Promise<ReceivedCallback[]>;
  close(): Promise<void>;
}> {
  const received: ReceivedCallback[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ path: req.url ?? '', headers: req.headers, raw, json: safeJson(raw) });
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    async waitFor(count, attempts = 300) {
      for (let i = 0; i < attempts && received.length < count; i++) await new Promise((r) => setTimeout(r, 10));
      return received;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Resolves to the fetch error of a request whose connection the server destroyed. */
export async function fetchError(url: string, init?: RequestInit): Promise<unknown> {
  try {
    await fetch(url, init).then((r) => r.arrayBuffer());
    return undefined;
  } catch (e) {
    return e;
  }
}

/** A clock the test moves by hand, for stepping through task states without timing. */
export function manualClock(start = 1_800_000_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}
