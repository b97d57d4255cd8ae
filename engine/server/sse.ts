/**
 * Server-sent events: one `data:` line of JSON per run event, with an `id` so a reconnecting
 * EventSource (Last-Event-ID) gets exactly what it missed. Comments keep idle proxies open.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BASE_HEADERS, type Redact } from './http-util';

export interface EventSink {
  send(id: number, data: unknown): void;
  end(): void;
  readonly closed: boolean;
}

export const HEARTBEAT_MS = 15_000;

export function lastEventId(req: IncomingMessage): number {
  const raw = req.headers['last-event-id'];
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export function openEventStream(req: IncomingMessage, res: ServerResponse, redact: Redact, onClose: () => void): EventSink {
  res.writeHead(200, {
    ...BASE_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let closed = false;
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    onClose();
  };
  req.on('close', close);
  res.on('close', close);
  return {
    send(id, data) {
      if (!closed) res.write(`id: ${id}\ndata: ${redact(JSON.stringify(data))}\n\n`);
    },
    end() {
      if (!closed) {
        close();
        res.end();
      }
    },
    get closed() {
      return closed;
    },
  };
}
