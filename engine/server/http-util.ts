/** Small helpers over node:http: JSON replies, bounded JSON bodies, typed HTTP errors. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redact } from '../host/redact';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Headers on every response: no sniffing, no framing (clickjacking a Run button), no referrer. */
export const BASE_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

export type { Redact };

export function sendJson(res: ServerResponse, status: number, body: unknown, redact: Redact): void {
  const text = redact(JSON.stringify(body));
  res.writeHead(status, {
    ...BASE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError, redact: Redact): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { error: { code: e.code, message: e.message }, ...e.extra }, redact);
}

/**
 * Reads a JSON body of at most `limit` bytes. Refuses other content types: a JSON content type
 * cannot be sent cross-origin without a CORS preflight, which this server never grants.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, 'unsupported_media_type', 'send the request body as application/json');
  }
  const text = (await readBounded(req, limit)).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
}

/**
 * Reads a binary body (an image) of at most `limit` bytes. Only content types a web page cannot
 * send cross-origin without a CORS preflight are accepted (application/octet-stream, image/png,
 * image/jpeg, image/webp), for the same reason readJsonBody insists on JSON.
 */
export async function readBinaryBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!BINARY_TYPES.has(type)) {
    throw new HttpError(415, 'unsupported_media_type', `send the image as ${[...BINARY_TYPES].join(', ')}`);
  }
  return readBounded(req, limit);
}

/** The body, refused with 413 as soon as it is known to pass `limit` bytes. */
async function readBounded(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new HttpError(413, 'payload_too_large', `request body is ${declared} bytes; the limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new HttpError(413, 'payload_too_large', `request body is larger than the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const BINARY_TYPES = new Set(['application/octet-stream', 'image/png', 'image/jpeg', 'image/webp']);

