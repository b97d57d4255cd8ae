/** A real server on a free port with the embedded emulator, and raw HTTP with full header control. */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { startServer, type RunningServer, type ServerOptions } from '../../engine/server/server';
import { tempDir } from '../helpers/tmp';

/** A distinctive fake key: it must never appear in any response. */
export const SECRET = 'sk-fluxgraph-test-DO-NOT-LEAK-7f3a9c';

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<RunningServer & { cwd: string }> {
  const cwd = tempDir('fluxgraph-server-');
  const server = await startServer({
    cwd,
    port: 0,
    editor: 'none',
    env: { FLUXGRAPH_EMULATOR: 'always', BFL_API_KEY: SECRET },
    ...options,
  });
  return Object.assign(server, { cwd });
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

/** Every body any test received, so a final check can grep them all for the key. */
export const seenBodies: string[] = [];

export function request(
  server: { port: number },
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; rawBody?: string | Buffer } = {},
): Promise<RawResponse> {
  const body = options.rawBody ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
  const headers: Record<string, string | number> = {
    host: `127.0.0.1:${server.port}`,
    ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...options.headers,
  };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        seenBodies.push(text, JSON.stringify(res.headers));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Reads a run's SSE stream until the server ends it (after runDone), calling `onEvent` as events arrive. */
export async function readEvents(
  server: { url: string },
  runId: string,
  onEvent: (e: { type: string; [k: string]: unknown }) => void = () => undefined,
  headers: Record<string, string> = {},
): Promise<{ ids: number[]; events: { type: string; [k: string]: unknown }[] }> {
  const res = await fetch(`${server.url}/api/runs/${runId}/events`, { headers });
  if (!res.ok || !res.body) throw new Error(`SSE failed: ${res.status}`);
  expectType(res.headers.get('content-type'));
  const decoder = new TextDecoder();
  let buffer = '';
  const events: { type: string; [k: string]: unknown }[] = [];
  const ids: number[] = [];
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const text = decoder.decode(chunk, { stream: true });
    seenBodies.push(text);
    buffer += text;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const id = /^id: (\d+)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (data) {
        const e = JSON.parse(data[1]) as { type: string };
        if (id) ids.push(Number(id[1]));
        events.push(e);
        onEvent(e);
      }
    }
  }
  return { ids, events };
}

function expectType(type: string | null): void {
  if (!type?.startsWith('text/event-stream')) throw new Error(`expected an event stream, got ${type}`);
}
